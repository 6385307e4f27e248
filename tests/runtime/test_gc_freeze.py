"""The gc freeze a running session holds: its graph out of the collector's reach until it closes."""

from __future__ import annotations

import gc

import pytest

from flowagents.runtime import gc_freeze
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, RecordingAudioOutput, Script
from flowagents.voice import Agent
from flowagents.voice.io import SessionIO


class Held:
    """A GC-tracked object to look for."""


def tracked(obj: object) -> bool:
    """Whether a collection would traverse ``obj`` (frozen objects are not listed)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture(autouse=True)
def own_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count this test's holds only (sessions of other tests may still hold theirs)."""
    monkeypatch.setattr(gc_freeze, "_state", gc_freeze._Holds())  # noqa: SLF001


def test_holds_freeze_until_the_last_is_released() -> None:
    gc.unfreeze()
    before = Held()
    assert tracked(before)
    first = gc_freeze.hold_frozen()
    assert not tracked(before)
    assert gc.get_freeze_count() > 0
    second = gc_freeze.hold_frozen()
    assert gc_freeze.holds() == 2
    first()
    first()  # a hold is released once
    assert gc_freeze.holds() == 1
    assert not tracked(before)
    second()
    assert gc_freeze.holds() == 0
    assert gc.get_freeze_count() == 0
    assert tracked(before)


def test_disabled_holds_count_without_freezing() -> None:
    gc.unfreeze()
    gc_freeze.set_enabled(False)
    try:
        obj = Held()
        release = gc_freeze.hold_frozen()
        assert gc_freeze.holds() == 1
        assert gc.get_freeze_count() == 0
        assert tracked(obj)
        release()
        assert gc_freeze.holds() == 0
    finally:
        gc_freeze.set_enabled(True)


async def test_a_running_session_keeps_its_graph_frozen_until_it_closes() -> None:
    gc.unfreeze()
    script = Script()
    session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                           tts=FakeTTS(script), user_away_timeout=None)
    assert gc_freeze.holds() == 0
    await session.start(Agent(instructions="idle"),
                        io=SessionIO(audio_output=RecordingAudioOutput()))
    assert gc_freeze.holds() == 1
    runtime = session._runtime  # noqa: SLF001 - the graph the session built
    assert runtime is not None
    assert not tracked(runtime)
    await session.aclose()
    assert gc_freeze.holds() == 0
    assert gc.get_freeze_count() == 0
    assert tracked(runtime)


def test_the_first_hold_collects_young_generations_and_later_ones_fully(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether something is frozen comes from the holds, not from ``gc.get_freeze_count()``
    (which walks every frozen object: a loop stall per session start that grows with the
    sessions running)."""
    gc.unfreeze()
    collected: list[int] = []
    monkeypatch.setattr(gc_freeze.gc, "collect", lambda generation=2: collected.append(generation))

    def no_count() -> int:
        raise AssertionError("hold_frozen counted the frozen objects")

    monkeypatch.setattr(gc_freeze.gc, "get_freeze_count", no_count)
    first = gc_freeze.hold_frozen()
    second = gc_freeze.hold_frozen()
    second()
    first()  # the last hold: everything unfrozen, so the next first hold is young again
    third = gc_freeze.hold_frozen()
    third()
    assert collected == [1, 2, 1]
