"""A conversation over WebRTC: a participant speaks a WAV question into a room, the agent
(Silero VAD hearing the room's audio; scripted STT, LLM and TTS) answers with audio,
transcriptions and state changes; a text on ``lk.chat`` gets an answer too."""

from __future__ import annotations

import asyncio
import json

from livekit import api
from lk_agents import ANSWER, CHAT, CHAT_ANSWER, QUESTION, AgentConfig, read_events
from lk_participant import HELLO_WAV, QUESTION_WAV, Participant
from lk_server import LiveKitServer


def _dispatch(agent_name: str, **cfg: object) -> api.RoomAgentDispatch:
    return api.RoomAgentDispatch(agent_name=agent_name, metadata=json.dumps(cfg))


def _collapse(states: list[str]) -> list[str]:
    out: list[str] = []
    for s in states:
        if not out or out[-1] != s:
            out.append(s)
    return out


async def test_spoken_question_and_chat_get_answers(livekit_server: LiveKitServer, make_worker,
                                                     out_dir: str, room_name: str) -> None:
    await make_worker(agent_name="conv", config=AgentConfig(out_dir=out_dir))
    user = Participant(livekit_server.url, livekit_server.api_key, livekit_server.api_secret,
                       room_name)
    await user.join(dispatch=_dispatch("conv", mode="voice", answer_seconds=2.0))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 20,
                            "the agent to listen")
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(r.t > speech_end and r.rms > 300 for r in user.audio),
                            10, "the agent's answer audio")
        first = user.first_audio_after(speech_end)
        await user.wait_for(lambda: _collapse([s for _, s in user.agent_states])[-1:]
                            == ["listening"] and len(_collapse([s for _, s in
                                                                user.agent_states])) >= 4,
                            10, "the agent to listen again")
        answer_audio = user.audible_seconds(first, first + 5.0)
        states = _collapse([s for _, s in user.agent_states])
        await user.send_chat(CHAT)
        await user.wait_for(lambda: any(t.text == CHAT_ANSWER for t in user.transcriptions), 10,
                            "the answer to the chat message")
    finally:
        await user.leave()

    print("first audio after speech end", first - speech_end, "audible", answer_audio)
    assert states[:4] == ["listening", "thinking", "speaking", "listening"], states
    assert 1.7 <= answer_audio <= 2.3, answer_audio
    finals = {(t.sender, t.text) for t in user.transcriptions if t.final}
    assert ("user", QUESTION) in finals, user.transcriptions
    agent_identity = next(e["identity"] for e in read_events(out_dir) if e["kind"] == "connected")
    assert (agent_identity, ANSWER) in finals, user.transcriptions
    assert (agent_identity, CHAT_ANSWER) in finals


async def test_barge_in_over_the_room_stops_the_agent_and_marks_the_reply_interrupted(
        livekit_server: LiveKitServer, make_worker, out_dir: str, room_name: str) -> None:
    await make_worker(agent_name="barge", config=AgentConfig(out_dir=out_dir))
    user = Participant(livekit_server.url, livekit_server.api_key, livekit_server.api_secret,
                       room_name)
    await user.join(dispatch=_dispatch("barge", mode="voice", answer_seconds=6.0))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 20,
                            "the agent to listen")
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(r.t > speech_end and r.rms > 300 for r in user.audio),
                            10, "the agent's answer audio")
        first = user.first_audio_after(speech_end)
        await asyncio.sleep(1.0)
        barge_start, _ = await user.say(HELLO_WAV)
        await user.wait_for(lambda: any(e["kind"] == "item" and e["role"] == "assistant"
                                        for e in read_events(out_dir)), 10,
                            "the cut reply in the history")
    finally:
        await user.leave()
    stopped = user.quiet_from(barge_start, quiet=0.3)
    print("agent audio stopped", None if stopped is None else stopped - barge_start,
          "s after the user started speaking")
    assert stopped is not None
    # min_interruption_duration (0.5 s) of speech, then the audio stops at the participant
    assert 0.4 < stopped - barge_start < 2.0
    assert stopped < first + 6.0 - 2.0  # long before the 6 s answer would have ended
    assert user.audible_seconds(first, stopped) < 4.0
    reply = next(e for e in read_events(out_dir) if e["kind"] == "item"
                 and e["role"] == "assistant")
    assert reply["interrupted"]
    assert reply["text"]
    assert ANSWER.startswith(reply["text"])
    assert reply["text"] != ANSWER
