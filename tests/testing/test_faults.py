"""Fault injection: a provider fails at a chosen instant or call, and the session copes.

Each test scripts one failure, then checks what the session did about it: a fallback answered,
the stream was reopened, an error event came out, and the agent went back to listening (the
next turn is answered).
"""

from __future__ import annotations

import pytest

from flowagents.errors import APIConnectionError, APIStatusError, APITimeoutError
from flowagents.llm import FallbackAdapter
from flowagents.runtime import run_virtual
from flowagents.testing import FakeLLM, Script, SimulationResult, simulate
from flowagents.voice import Agent

HI = "Hi! How can I help you today?"


def _script() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="Hello there", stt_delay=0.2)
    s.llm_reply(input="Hello there", content=HI, ttft=0.1, duration=0.4)
    s.tts_audio(input=HI, audio_duration=1.0, ttfb=0.2, duration=0.3)
    s.user_speech(start=5.0, end=5.8, transcript="Tell me more", stt_delay=0.2)
    s.llm_reply(input="Tell me more", content="Sure.", ttft=0.1, duration=0.2)
    s.tts_audio(input="Sure.", audio_duration=0.25, ttfb=0.2, duration=0.3)
    return s


def _run(script: Script, **options: object) -> SimulationResult:
    return run_virtual(simulate(script, agent=Agent(instructions="help"), options=options))


def _errors(result: SimulationResult) -> list[tuple[float, type, str]]:
    return [(round(e.time, 3), type(e.event.error), str(e.event.source))
            for e in result.of_type("error")]


SECOND_TURN = [(6.35, "thinking"), (6.55, "speaking"), (6.8, "listening")]


def test_without_faults() -> None:
    result = _run(_script())
    # the TTS starts when the LLM's reply ends (2.1: its sentence is complete), first byte 0.2 s
    assert result.agent_states[1:] == [(0.0, "listening"), (2.05, "thinking"),
                                       (pytest.approx(2.3), "speaking"),
                                       (pytest.approx(3.3), "listening"),
                                       *[(pytest.approx(t), s) for t, s in SECOND_TURN]]
    assert _errors(result) == []


def test_llm_that_fails_before_its_first_token_falls_back() -> None:
    script = _script().fault("llm", call=1, error="status")
    backup = FakeLLM(_script())
    primary = FakeLLM(script)
    result = _run(script, llm=FallbackAdapter([primary, backup], retry_interval=0.1,
                                              max_retry_per_llm=0))
    assert _errors(result) == []  # the fallback hid it
    assert [c.completed for c in primary.calls][:1] == [False]
    assert backup.calls[0].completed
    assert result.messages() == [("user", "Hello there", False), ("assistant", HI, False),
                                 ("user", "Tell me more", False), ("assistant", "Sure.", False)]


def test_llm_that_stalls_before_its_first_token_falls_back_after_the_attempt_timeout() -> None:
    script = _script().fault("llm", "stall", call=1)
    primary, backup = FakeLLM(script), FakeLLM(_script())
    result = _run(script, llm=FallbackAdapter([primary, backup], attempt_timeout=1.0,
                                              max_retry_per_llm=0))
    # the preemptive call at 1.7 stalls; the fallback's call starts 1.0 s later and ends 0.4 s
    # after, then the TTS's first byte (0.2 s)
    speaking = [t for t, s in result.agent_states if s == "speaking"]
    assert speaking[0] == pytest.approx(1.7 + 1.0 + 0.4 + 0.2)
    assert primary.calls[0].closed_at == pytest.approx(2.7)
    assert result.messages()[1] == ("assistant", HI, False)
    assert result.agent_states[-1][1] == "listening"


def test_llm_that_fails_mid_stream_reports_and_listens() -> None:
    result = _run(_script().fault("llm", call=1, after_chunks=1))
    # the call (preemptive, at 1.7) sent its first words at 1.8, failed when the second were due
    [(t, kind, source)] = _errors(result)
    assert kind is APIConnectionError
    assert t == pytest.approx(2.05)  # reported when the reply's turn was committed and played
    assert result.agent_states[2:4] == [(2.05, "thinking"), (pytest.approx(2.05), "listening")]
    assert result.messages() == [("user", "Hello there", False),  # nothing was said for it
                                 ("user", "Tell me more", False), ("assistant", "Sure.", False)]
    assert result.agent_states[-3:] == [(pytest.approx(t), s) for t, s in SECOND_TURN]


def test_llm_that_stalls_mid_stream_is_replaced_by_the_next_turn() -> None:
    result = _run(_script().fault("llm", "stall", call=1, after_chunks=1))
    assert _errors(result) == []
    # no audio ever comes: the agent thinks until the user speaks again (0.5 s of speech)
    assert result.agent_states[2:4] == [(2.05, "thinking"), (pytest.approx(5.5), "listening")]
    assert result.llm is not None
    assert result.llm.calls[0].closed_at == pytest.approx(5.5)  # the stalled call was closed
    assert result.agent_states[-3:] == [(pytest.approx(t), s) for t, s in SECOND_TURN]


def test_tts_that_fails_after_its_first_chunk_keeps_only_what_was_voiced() -> None:
    result = _run(_script().fault("tts", call=1, after_chunks=1, error="timeout"))
    [(t, kind, source)] = _errors(result)
    assert kind is APITimeoutError
    # one 20 ms frame came (at 2.3) and played; the second never came
    assert result.agent_states[2:5] == [(2.05, "thinking"), (pytest.approx(2.3), "speaking"),
                                        (pytest.approx(2.32), "listening")]
    assert result.output is not None
    assert result.output.audio_duration == pytest.approx(0.02 + 0.25)
    # the history holds no sentence the user did not hear to its end
    assert result.messages() == [("user", "Hello there", False),
                                 ("user", "Tell me more", False), ("assistant", "Sure.", False)]


def test_tts_with_a_slow_first_byte_plays_late_and_whole() -> None:
    result = _run(_script().fault("tts", "slow_first", call=1, delay=0.5))
    assert _errors(result) == []
    assert result.agent_states[2:5] == [(2.05, "thinking"), (pytest.approx(2.8), "speaking"),
                                        (pytest.approx(3.8), "listening")]
    assert result.messages()[1] == ("assistant", HI, False)


def test_stt_stream_error_is_reported_and_the_stream_reopened() -> None:
    script = _script().fault("stt", at=3.0)
    result = _run(script)
    [(t, kind, source)] = _errors(result)
    assert (t, kind, source) == (3.0, APIConnectionError, "stt")
    assert result.stt is not None
    assert len(result.stt.streams) == 2  # reopened after the retry interval
    # the second turn, spoken after the reopening, is heard and answered
    assert result.messages()[-2:] == [("user", "Tell me more", False),
                                      ("assistant", "Sure.", False)]
    assert result.agent_states[-3:] == [(pytest.approx(t), s) for t, s in SECOND_TURN]


def test_stt_errors_past_the_retry_budget_end_the_stream() -> None:
    script = _script()
    for at in (2.5, 4.6, 6.7, 8.8):  # each one 2 s (the retry interval) after the reopening
        script.fault("stt", at=at, error="status")
    result = _run(script)
    assert [t for t, _, _ in _errors(result)] == [2.5, 4.6, 6.7, 8.8]
    assert [k for _, k, _ in _errors(result)] == [APIStatusError] * 4
    assert result.stt is not None
    assert len(result.stt.streams) == 4  # three retries, then the stream stays closed
    assert result.agent_states[-1][1] == "listening"


def test_fault_arguments_are_checked() -> None:
    s = Script()
    with pytest.raises(ValueError, match="exactly one of at= and call="):
        s.fault("llm")
    with pytest.raises(ValueError, match="exactly one of at= and call="):
        s.fault("llm", at=1.0, call=1)
    with pytest.raises(ValueError, match="an STT fault is an error at an instant"):
        s.fault("stt", call=1)
    with pytest.raises(ValueError, match="slow first byte hits a call"):
        s.fault("tts", "slow_first", at=1.0)
    with pytest.raises(ValueError, match="counts from 1"):
        s.fault("tts", call=0)
