"""Fault injection: a provider fails at a chosen instant or call, and the session copes.

Each test scripts one failure, then checks what the session did about it: a fallback answered,
the stream was reopened, an error event came out, and the agent went back to listening (the
next turn is answered).
"""

from __future__ import annotations

import pytest

from flowagents.errors import (
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
)
from flowagents.llm import FallbackAdapter
from flowagents.runtime import run_virtual
from flowagents.testing import FakeLLM, FakeTTS, Script, SimulationResult, simulate
from flowagents.tts import FallbackAdapter as TTSFallbackAdapter
from flowagents.voice import Agent, SessionConnectOptions

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
    # the history keeps what the agent was saying when its voice failed, marked interrupted
    assert result.messages() == [("user", "Hello there", False), ("assistant", HI, True),
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
    with pytest.raises(ValueError, match="after= times a fault from its call"):
        s.fault("llm", at=1.0, after=0.5)
    with pytest.raises(ValueError, match="must be >= 0"):
        s.fault("llm", call=1, after=-0.1)


def test_a_fault_after_seconds_strikes_then() -> None:
    # the call at 1.7 fails 0.25 s after it, after its first chunk (1.8), not when the second
    # was due
    result = _run(_one_turn().fault("llm", call=1, after_chunks=1, after=0.25, retryable=False))
    assert _errors(result) == [(2.05, APIConnectionError, "llm")]  # reported at the commit
    assert result.llm is not None
    assert result.llm.calls[0].closed_at == pytest.approx(1.95)
    assert [c.delta for c in result.llm.calls[0].chunks] == ["Hi! How "]


# -- stalls and retries without a fallback adapter (the session's conn_options) -----------------


def _one_turn() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="Hello there", stt_delay=0.2)
    s.llm_reply(input="Hello there", content=HI, ttft=0.1, duration=0.4)
    s.tts_audio(input=HI, audio_duration=1.0, ttfb=0.2, duration=0.3)
    return s


def _conn(**kinds: APIConnectOptions) -> SessionConnectOptions:
    return SessionConnectOptions(**{f"{k}_conn_options": v for k, v in kinds.items()})


def test_llm_that_stalls_times_out_at_the_exact_timeout_and_listens() -> None:
    script = _script().fault("llm", "stall", call=1)
    result = _run(script, conn_options=_conn(llm=APIConnectOptions(timeout=2.0, max_retry=0)))
    # the (preemptive) call at 1.7 never answers: 2.0 s later it is a timeout, reported as
    # the LLM's, and the agent that was thinking since the commit (2.05) listens again
    assert _errors(result) == [(3.7, APITimeoutError, "llm")]
    assert result.agent_states[1:4] == [(0.0, "listening"), (2.05, "thinking"),
                                        (pytest.approx(3.7), "listening")]
    assert result.llm is not None
    assert result.llm.calls[0].closed_at == pytest.approx(3.7)
    # the user's turn stays; no reply was said for it; the next turn is answered
    assert result.messages() == [("user", "Hello there", False),
                                 ("user", "Tell me more", False), ("assistant", "Sure.", False)]
    assert result.agent_states[-3:] == [(pytest.approx(t), s) for t, s in SECOND_TURN]


def test_llm_that_stalls_is_retried_after_the_default_timeout_and_answers() -> None:
    script = _one_turn().fault("llm", "stall", call=1)
    result = _run(script)  # LiveKit's defaults: 10 s timeout, 3 retries, the first at once
    assert _errors(result) == []
    assert result.llm is not None
    [stalled, retried] = result.llm.calls
    assert stalled.closed_at == pytest.approx(11.7)
    assert retried.time == pytest.approx(11.7)
    assert retried.completed
    # the retry's reply ends 0.4 s later; the TTS's first byte 0.2 s after that
    assert result.agent_states[1:] == [(0.0, "listening"), (2.05, "thinking"),
                                       (pytest.approx(12.3), "speaking"),
                                       (pytest.approx(13.3), "listening")]
    assert result.messages() == [("user", "Hello there", False), ("assistant", HI, False)]


def test_llm_that_stalls_mid_stream_times_out_and_keeps_only_what_was_said() -> None:
    script = _one_turn().fault("llm", "stall", call=1, after_chunks=1)
    result = _run(script)
    # "Hi! How " came at 1.8 (no sentence to voice yet); 10 s without a token is a timeout,
    # not retried (the reply had begun)
    assert _errors(result) == [(11.8, APITimeoutError, "llm")]
    assert result.agent_states[1:] == [(0.0, "listening"), (2.05, "thinking"),
                                       (pytest.approx(11.8), "listening")]
    assert result.llm is not None
    assert len(result.llm.calls) == 1
    assert result.messages() == [("user", "Hello there", False)]


def test_tts_that_fails_before_its_first_chunk_is_retried_and_plays() -> None:
    script = _one_turn().fault("tts", call=1)
    result = _run(script)
    assert _errors(result) == []
    assert result.tts is not None
    # the call at 2.1 fails when its first chunk was due (2.3); the retry goes at once
    assert [round(c.time, 3) for c in result.tts.calls] == [2.1, 2.3]
    assert result.agent_states[1:] == [(0.0, "listening"), (2.05, "thinking"),
                                       (pytest.approx(2.5), "speaking"),
                                       (pytest.approx(3.5), "listening")]
    assert result.messages() == [("user", "Hello there", False), ("assistant", HI, False)]


def test_tts_that_keeps_failing_reports_once_and_keeps_the_text() -> None:
    script = _script()
    for call in (1, 2, 3, 4):
        script.fault("tts", call=call, error="status")
    tts = APIConnectOptions(max_retry=3, retry_interval=0.5)
    result = _run(script, conn_options=_conn(tts=tts))
    assert result.tts is not None
    # back-off: the first retry at once, then 0.5 s after each failure (each fails at 0.2 s)
    assert [round(c.time, 3) for c in result.tts.calls[:4]] == [2.1, 2.3, 3.0, 3.7]
    assert _errors(result) == [(3.9, APIStatusError, "tts")]
    assert result.agent_states[1:4] == [(0.0, "listening"), (2.05, "thinking"),
                                        (pytest.approx(3.9), "listening")]
    # nothing was heard; the reply's text stays in the history, marked as not (fully) heard
    assert result.messages() == [("user", "Hello there", False), ("assistant", HI, True),
                                 ("user", "Tell me more", False), ("assistant", "Sure.", False)]
    assert result.agent_states[-3:] == [(pytest.approx(t), s) for t, s in SECOND_TURN]


def test_tts_that_stalls_times_out_and_is_retried() -> None:
    script = _one_turn().fault("tts", "stall", call=1)
    result = _run(script, conn_options=_conn(tts=APIConnectOptions(timeout=1.0)))
    assert _errors(result) == []
    assert result.tts is not None
    assert [round(c.time, 3) for c in result.tts.calls] == [2.1, 3.1]
    assert result.agent_states[3] == (pytest.approx(3.3), "speaking")
    assert result.messages()[1] == ("assistant", HI, False)


def test_tts_that_fails_falls_back_to_the_next_tts() -> None:
    script = _one_turn().fault("tts", call=1, retryable=True)
    primary, backup = FakeTTS(script), FakeTTS(_one_turn())
    result = _run(script, tts=TTSFallbackAdapter([primary, backup], max_retry_per_tts=0))
    assert _errors(result) == []
    assert [c.completed for c in primary.calls] == [False]
    assert [round(c.time, 3) for c in backup.calls] == [2.3]
    assert result.agent_states[3] == (pytest.approx(2.5), "speaking")
    assert result.messages()[1] == ("assistant", HI, False)


def test_conn_options_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout"):
        SessionConnectOptions(llm_conn_options={"timeout": 0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stt_conn"):
        SessionConnectOptions(stt_conn_options=APIConnectOptions())  # type: ignore[call-arg]


def test_tts_that_stalls_on_text_at_hand_times_out_too() -> None:
    # the reply's text is complete before the turn commits (1.9 < 2.05): playout's subscription
    # starts the synthesis at once (an eager start, in playout's task); its timeout still
    # belongs to the synthesis's own task, and fires
    script = Script()
    script.user_speech(start=0.5, end=1.5, transcript="Hello there", stt_delay=0.2)
    script.llm_reply(input="Hello there", content=HI, ttft=0.0, duration=0.2)
    script.tts_audio(input=HI, audio_duration=1.0, ttfb=0.2, duration=0.3)
    script.fault("tts", "stall", call=1)
    conn = _conn(tts=APIConnectOptions(timeout=0.5, max_retry=0))
    result = run_virtual(simulate(script, agent=Agent(instructions="help"), duration=10.0,
                                  options={"conn_options": conn}))  # a stuck agent fails
    assert _errors(result) == [(2.55, APITimeoutError, "tts")]
    assert result.agent_states[1:] == [(0.0, "listening"), (2.05, "thinking"),
                                       (pytest.approx(2.55), "listening")]
    assert result.messages() == [("user", "Hello there", False), ("assistant", HI, True)]
