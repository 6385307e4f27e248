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
