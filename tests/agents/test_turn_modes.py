"""LiveKit's ``turn_detection`` modes on the voice graph, in virtual time.

Script: the user says "Hello there" from 0.5 to 2.0 s; the STT's final transcript arrives 0.2 s
after the end of the speech (2.2 s); endpointing waits 0.5 s (min_endpointing_delay).
"""

from __future__ import annotations

import pytest
import reactivex
from reactivex import operators as ops

from flowagents.runtime import run_virtual
from flowagents.session.descriptors import DescriptorError
from flowagents.testing import Script, SimulationResult, simulate
from flowagents.types import SpeechData, SpeechEvent, SpeechEventType, VADEventType
from flowagents.voice import Agent
from nodes.turn.stt_endpoints import stt_boundaries

HELLO = "Hello there"


def _script(*speech: tuple[float, float, str]) -> Script:
    s = Script()
    for start, end, text in speech:
        s.user_speech(start=start, end=end, transcript=text, stt_delay=0.2)
        s.llm_reply(input=text, content=f"You said {text}.")
        s.tts_audio(input=f"You said {text}.", audio_duration=1.0)
    return s


def _run(script: Script, mode: str, **kwargs: object) -> SimulationResult:
    return run_virtual(simulate(script, agent=Agent(instructions="Echo."),
                                options={"turn_detection": mode}, **kwargs))  # type: ignore[arg-type]


def _committed(r: SimulationResult) -> list[float]:
    """When each user turn was committed (its message's time)."""
    return [round(i.created_at, 3) for i in r.history.items
            if i.type == "message" and i.role == "user"]


def test_vad_mode_commits_half_a_second_after_the_vads_end_of_speech() -> None:
    r = _run(_script((0.5, 2.0, HELLO)), "vad")
    assert [m[:2] for m in r.messages()] == [("user", HELLO), ("assistant", f"You said {HELLO}.")]
    assert _committed(r) == [2.55]  # the fake VAD dates the end at 2.05 s


def test_stt_mode_ends_the_turn_on_the_stt_not_the_vad() -> None:
    """The fake STT reports no speech boundaries, only the final transcript: the turn ends at
    its arrival (2.2 s) and commits 0.5 s later."""
    r = _run(_script((0.5, 2.0, HELLO)), "stt")
    assert [m[:2] for m in r.messages()] == [("user", HELLO), ("assistant", f"You said {HELLO}.")]
    assert _committed(r) == [2.7]


def test_manual_mode_answers_only_when_the_app_commits_the_turn() -> None:
    """"first" is cleared at 2.5 s; "Hello there" is committed at 6.0 s and answered; a commit
    with nothing said since (9.0 s) makes no turn."""
    r = _run(_script((0.5, 1.5, "first"), (3.0, 4.0, HELLO)), "manual", actions={
        2.5: lambda s: s.clear_user_turn(), 6.0: lambda s: s.commit_user_turn(),
        9.0: lambda s: s.commit_user_turn()})  # nothing said since: no turn
    assert [m[:2] for m in r.messages()] == [("user", HELLO), ("assistant", f"You said {HELLO}.")]
    assert _committed(r) == [6.0]


def test_commit_user_turn_needs_the_manual_mode() -> None:
    async def main() -> None:
        from flowagents.session import AgentSession

        session = AgentSession(turn_detection="vad")
        with pytest.raises(RuntimeError, match="turn_detection='manual'"):
            session.commit_user_turn()
        with pytest.raises(RuntimeError, match="turn_detection='manual'"):
            session.clear_user_turn()

    run_virtual(main())


def test_realtime_llm_mode_needs_a_realtime_model() -> None:
    from flowagents.session import AgentSession
    from flowagents.testing import FakeLLM

    with pytest.raises(DescriptorError, match="needs a realtime model"):
        AgentSession(llm=FakeLLM(Script()), turn_detection="realtime_llm")


def test_stt_boundaries_are_the_stts_start_and_end_of_speech() -> None:
    def event(kind: SpeechEventType, t: float, text: str = "") -> SpeechEvent:
        return SpeechEvent(kind, t, (SpeechData(text),) if text else ())

    got: list[tuple[VADEventType, float, bool]] = []
    reactivex.from_iterable([
        event(SpeechEventType.START_OF_SPEECH, 1.0),
        event(SpeechEventType.INTERIM_TRANSCRIPT, 1.5, "hel"),
        event(SpeechEventType.FINAL_TRANSCRIPT, 2.1, "hello"),
        event(SpeechEventType.END_OF_SPEECH, 2.4),
    ]).pipe(stt_boundaries, ops.to_list()).subscribe(
        lambda events: got.extend((e.type, e.timestamp, e.speaking) for e in events))
    assert got == [(VADEventType.START_OF_SPEECH, 1.0, True),
                   (VADEventType.END_OF_SPEECH, 2.4, False)]


@pytest.mark.parametrize("value", ["manual", "vad", 0.5])
def test_an_agent_takes_a_detector_not_a_mode(value: object) -> None:
    with pytest.raises(TypeError, match="AgentSession\\(turn_detection=...\\)"):
        Agent(instructions="x", turn_detection=value)  # type: ignore[arg-type]
