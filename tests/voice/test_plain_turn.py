"""Scenario: one plain user turn, answered, with its metrics.

Script: the user speaks 0.5-2.5 s; STT delay 0.2 s; LLM ttft 0.1 s / 0.3 s; TTS ttfb 0.2 s,
2.0 s of audio. Timeline with the defaults (preemptive generation on):
VAD start 0.55 (dated 0.5), interim 2.6, final 2.7 (preemptive LLM 2.7-3.0), VAD end 3.05 (dated
2.5) -> the turn commits at once (2.5 + 0.5 has passed), TTS 3.05 -> first audio 3.25, playout
3.25-5.25.
"""

from __future__ import annotations

from flowagents.metrics import EOUMetrics, LLMMetrics, TTSMetrics
from flowagents.testing import Script

from .conftest import approx, run, states, timeline

HELLO = "Hello, how are you?"
REPLY = "I'm doing well, thank you!"


def script() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=HELLO, stt_delay=0.2)
    s.llm_reply(input=HELLO, content=REPLY, ttft=0.1, duration=0.3)
    s.tts_audio(input=REPLY, audio_duration=2.0, ttfb=0.2, duration=0.3)
    return s


def test_plain_turn_states_history_and_playback() -> None:
    r = run(script())
    assert states(r.user_states) == [(0.5, "speaking"), (2.5, "listening")]
    assert states(r.agent_states) == [
        (0.0, "initializing"), (0.0, "listening"), (3.05, "thinking"), (3.25, "speaking"),
        (5.25, "listening")]
    assert r.messages() == [("user", HELLO, False), ("assistant", REPLY, False)]
    assert [(p.start, p.end, p.position, p.interrupted) for p in r.playbacks] == [
        (approx(3.25), approx(5.25), approx(2.0), False)]
    assert r.output is not None
    assert r.output.first_frame_time == approx(3.25)
    assert r.output.audio_duration == approx(2.0)
    # the user message is dated at the commit, the assistant's at the start of its playback
    user, assistant = (i for i in r.history.items if i.type == "message")
    assert user.created_at == approx(3.05)
    assert assistant.created_at == approx(3.25)


def test_plain_turn_event_order() -> None:
    r = run(script())
    assert timeline(r, "user_state_changed", "user_input_transcribed", "conversation_item_added",
                    "speech_created", "agent_state_changed") == [
        (0.0, "agent_state_changed"),
        (0.55, "user_state_changed"),
        (2.6, "user_input_transcribed"),
        (2.7, "user_input_transcribed"),
        (3.05, "user_state_changed"),
        (3.05, "conversation_item_added"),
        (3.05, "speech_created"),
        (3.05, "agent_state_changed"),
        (3.25, "agent_state_changed"),
        (5.25, "conversation_item_added"),
        (5.25, "agent_state_changed"),
    ]
    transcribed = [(e.event.transcript, e.event.is_final)
                   for e in r.of_type("user_input_transcribed")]
    assert transcribed == [("Hello, how", False), (HELLO, True)]
    assert [e.type for e in r.events][-1] == "close"


def test_plain_turn_metrics() -> None:
    r = run(script())
    eou = [m for m in r.metrics if isinstance(m, EOUMetrics)]
    assert len(eou) == 1
    assert eou[0].end_of_utterance_delay == approx(0.55)  # VAD end arrives 0.55 s after 2.5
    assert eou[0].transcription_delay == approx(0.2)
    assert eou[0].on_user_turn_completed_delay == approx(0.0)
    (llm,) = [m for m in r.metrics if isinstance(m, LLMMetrics)]
    assert (llm.timestamp, llm.ttft, llm.duration) == (approx(3.0), approx(0.1), approx(0.3))
    assert llm.completion_tokens > 0
    assert llm.speech_id == eou[0].speech_id
    (tts,) = [m for m in r.metrics if isinstance(m, TTSMetrics)]
    assert (tts.ttfb, tts.duration, tts.audio_duration) == (approx(0.2), approx(0.3),
                                                            approx(2.0))
    assert tts.characters_count == len(REPLY)
    usage = r.session.usage()
    assert usage.tts_characters_count == len(REPLY)
    assert usage.llm_completion_tokens == llm.completion_tokens


def test_agent_transcription_follows_playout() -> None:
    r = run(script())
    agent = [(round(t, 6), seg.text, seg.final) for t, seg in r.transcriptions
             if seg.participant == "agent"]
    # 26 characters over 2.0 s of audio from 3.25: a word is sent once the audio has reached its
    # end (frames are 20 ms, so at the first frame boundary after it); the last at the end
    assert "".join(text for _, text, _ in agent) == REPLY
    assert agent[0] == (approx(3.25 + 0.24), "I'm", False)  # 3/26 of 2.0 s = 0.23 s -> 0.24
    assert agent[-2][0] == approx(5.25)
    assert agent[-1] == (approx(5.25), "", True)
    times = [t for t, _, _ in agent]
    assert times == sorted(times)
    user = [(round(t, 6), seg.text, seg.final) for t, seg in r.transcriptions
            if seg.participant == "user"]
    assert user == [(2.6, "Hello, how", False), (2.7, HELLO, True)]
