"""Random fault schedules: whatever fails and when, the conversation goes on.

Hypothesis writes a conversation (two to four user turns, far enough apart that each is its own
turn), the session's connection options (stall timeouts, retries and their interval) and a
fault schedule over it: STT stream errors between turns (where the reopened stream is back
before the user speaks again); LLM and TTS errors, stalls and slow first bytes on random calls
after a random number of chunks; bursts of TTS failures before the first chunk on consecutive
calls (so retries run out). Whatever the schedule:

- the agent ends listening, with no speech pending (no stuck state: a stall times out);
- no turn is lost: every utterance is in the history as a user message, in order;
- the history is consistent: each assistant message follows a user message, and holds whole
  sentences of the scripted reply (what was voiced to its end, then, when the voice failed, the
  sentence it failed on, marked interrupted), or a cut one's prefix, cut at a word;
- every error is a typed provider error from the stage that failed, and every STT fault is
  reported at its instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowagents.errors import APIConnectOptions, APIError
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import Script, simulate
from flowagents.voice import Agent, SessionConnectOptions

REPLY = "Sure, I can help. Here is the answer. Anything else?"
SENTENCES = ("Sure, I can help.", "Here is the answer.", "Anything else?")
RETRY = 2.0  # the STT stream reopens this long after an error (APIConnectOptions)
SETTLE = 30.0  # after the last turn: more than the longest a reply may retry and time out


@dataclass(frozen=True)
class Case:
    script: Script
    texts: tuple[str, ...]
    stt_faults: tuple[float, ...]
    end: float
    conn: SessionConnectOptions

    def __repr__(self) -> str:
        speech = [(s.start, s.end, s.transcript) for s in self.script.speech]
        return f"Case(speech={speech}, faults={self.script.faults}, conn={self.conn!r})"


@st.composite
def cases(draw: st.DrawFn) -> Case:
    script = Script()
    texts: list[str] = []
    stt_faults: list[float] = []
    t = draw(st.floats(0.3, 1.0))
    turns = draw(st.integers(2, 4))
    for i in range(turns):
        length = draw(st.floats(0.3, 1.5))
        text = f"question {i} " + "word " * draw(st.integers(0, 3))
        texts.append(text.strip())
        script.user_speech(start=round(t, 2), end=round(t + length, 2), transcript=text,
                           stt_delay=draw(st.sampled_from([0.0, 0.1, 0.3])))
        t += length
        gap = draw(st.floats(3.0, 7.0))
        if i < turns - 1 and draw(st.booleans()):  # an STT error in the pause, healed in time
            at = round(t + draw(st.floats(0.5, gap - RETRY - 0.4)), 2)
            script.fault("stt", at=at, error=draw(st.sampled_from(["connection", "status"])))
            stt_faults.append(at)
        t += gap
    script.llm_reply(input=None, content=REPLY, ttft=draw(st.sampled_from([0.0, 0.1, 0.4])),
                     duration=draw(st.sampled_from([0.5, 0.9])))
    for sentence in SENTENCES:
        script.tts_audio(input=sentence, audio_duration=draw(st.sampled_from([0.4, 1.2])),
                         ttfb=draw(st.sampled_from([0.0, 0.2])), duration=0.3)
    for provider in ("llm", "tts"):
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["error", "error", "stall", "slow_first"]))
            script.fault(provider, kind, call=draw(st.integers(1, 8)),
                         after_chunks=draw(st.integers(0, 4)),
                         delay=draw(st.sampled_from([0.3, 1.5])),
                         error=draw(st.sampled_from(["connection", "timeout", "status"])),
                         retryable=draw(st.sampled_from([True, True, False])))
    if draw(st.booleans()):  # a TTS failing before its first chunk, call after call
        first = draw(st.integers(1, 6))
        for call in range(first, first + draw(st.integers(1, 4))):
            script.fault("tts", call=call, error=draw(st.sampled_from(["connection", "status"])))
    conn = SessionConnectOptions(
        llm_conn_options=APIConnectOptions(timeout=draw(st.sampled_from([1.0, 2.0])),
                                           max_retry=draw(st.integers(0, 2)),
                                           retry_interval=draw(st.sampled_from([0.0, 0.5]))),
        tts_conn_options=APIConnectOptions(timeout=draw(st.sampled_from([0.5, 1.0])),
                                           max_retry=draw(st.integers(0, 2)),
                                           retry_interval=draw(st.sampled_from([0.0, 0.5]))))
    return Case(script, tuple(texts), tuple(stt_faults), t + SETTLE, conn)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_any_fault_schedule_leaves_a_working_conversation(case: Case) -> None:
    at_end: list[tuple[str, bool]] = []

    def look(session: AgentSession) -> None:  # before simulate closes the session
        at_end.append((session.agent_state, session.current_speech is None))

    result = run_virtual(simulate(case.script, agent=Agent(instructions="help"),
                                  options={"conn_options": case.conn},
                                  actions={case.end - 0.5: look}, duration=case.end,
                                  record=False))
    # no stuck state: listening at the end by itself, nothing pending
    assert at_end == [("listening", True)]
    messages = result.messages()
    # no turn lost, in order
    assert [text for role, text, _ in messages if role == "user"] == list(case.texts)
    # consistent history: at most one assistant message per user turn, after it; a reply that
    # played to its end holds whole sentences, a cut one (interrupted, or its audio failed) a
    # prefix of the reply, cut at a word
    assert messages[0][0] == "user"
    roles = "".join("u" if role == "user" else "a" for role, _, _ in messages)
    assert "aa" not in roles
    whole = {" ".join(SENTENCES[:n]) for n in range(1, len(SENTENCES) + 1)}
    for role, text, interrupted in messages:
        if role == "assistant":
            assert text in whole or (interrupted and REPLY.startswith(text)
                                     and REPLY[len(text):len(text) + 1] in (" ", "")), text
    # every error typed, from the stage that failed
    for e in result.of_type("error"):
        assert isinstance(e.event.error, APIError), e.event.error
        assert str(e.event.source) in ("stt", "llm", "tts"), e.event.source
    # every STT fault reported, at its instant
    stt_errors = [round(e.time, 6) for e in result.of_type("error")
                  if str(e.event.source) == "stt"]
    assert stt_errors == list(case.stt_faults)
