"""The offline models end to end over WebRTC: the bundled spoken question goes in through a
real room, Silero hears it, Whisper transcribes it, SmolLM2 answers and Piper speaks; the
participant receives the transcriptions and an audible answer."""

from __future__ import annotations

import json

from livekit import api
from lk_agents import AgentConfig, read_events
from lk_participant import QUESTION_WAV, Participant
from lk_server import LiveKitServer


async def test_offline_models_answer_a_spoken_question_over_webrtc(
        livekit_server: LiveKitServer, make_worker, out_dir: str, room_name: str) -> None:
    await make_worker(agent_name="offline", config=AgentConfig(out_dir=out_dir),
                      initialize_process_timeout=60.0)
    user = Participant(livekit_server.url, livekit_server.api_key, livekit_server.api_secret,
                       room_name)
    await user.join(dispatch=api.RoomAgentDispatch(
        agent_name="offline", metadata=json.dumps({"mode": "voice", "providers": "local"})))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 60,
                            "the agent to load its models and listen")
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(e["kind"] == "agent_state" and e["state"] == "listening"
                                        and e["t"] > speech_end for e in read_events(out_dir)),
                            60, "the answer to be spoken")
        await user.wait_for(lambda: any(t.final and t.sender != "user"
                                        for t in user.transcriptions), 5,
                            "the answer's transcription")
    finally:
        await user.leave()
    first = user.first_audio_after(speech_end)
    print("offline: first answer audio", round(first - speech_end, 3), "s after the speech",
          "audible", round(user.audible_seconds(first), 2), "s")
    heard = next(t.text for t in user.transcriptions if t.sender == "user" and t.final)
    assert "weather" in heard.lower(), heard
    assert "tokyo" in heard.lower(), heard
    answer = " ".join(t.text for t in user.transcriptions if t.sender != "user" and t.final)
    assert len(answer.split()) >= 3, answer
    assert user.audible_seconds(first) > 1.0
    states = [e["state"] for e in read_events(out_dir) if e["kind"] == "agent_state"]
    assert states[:4] == ["listening", "thinking", "speaking", "listening"], states
