"""simulate() hands the session's VAD options to the fake VAD; a long conversation does not make
each turn cost more (counted in virtual time: copies, tasks, observers; never timed).

Issue 3's overhead probe saw the turn overhead grow from 2.6 ms to 22 ms in a few dozen turns: the
session deep-copied the whole history (pydantic ``deep=True``) several times per turn. These
tests count what would grow.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from reactivex.subject import Subject

import flowagents.llm.chat_context as chat_context
from flowagents.runtime import run_virtual
from flowagents.testing import Script, simulate
from flowagents.types import VADEventType
from flowagents.voice import Agent

TURNS = 12
PERIOD = 2.0


def _script(turns: int) -> Script:
    s = Script()
    for i in range(turns):
        start = 0.5 + i * PERIOD
        s.user_speech(start=start, end=start + 0.5, transcript=f"question {i}", stt_delay=0.1)
        s.llm_reply(input=f"question {i}", content=f"Answer {i}.", ttft=0.05, duration=0.1)
        s.tts_audio(input=f"Answer {i}.", audio_duration=0.2, ttfb=0.05, duration=0.1)
    return s


def test_simulate_vad_uses_the_session_options() -> None:
    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="hello", stt_delay=0.1)
    r = run_virtual(simulate(s, agent=Agent(instructions="x"), duration=4.0,
                             options={"min_silence_duration": 0.3, "min_speech_duration": 0.1}))
    assert r.vad is not None
    assert r.vad.options.min_silence_duration == 0.3
    assert r.vad.options.min_speech_duration == 0.1
    (stream,) = r.vad.streams
    start, end = stream.events
    assert (start.type, end.type) == (VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH)
    assert end.silence_duration == pytest.approx(0.3)
    assert start.speech_duration == pytest.approx(0.1)
    # the user's state follows the VAD's dated times; the turn commits 0.3 s after the speech
    assert [(round(t, 6), st) for t, st in r.user_states] == [(0.5, "speaking"),
                                                              (1.5, "listening")]


def _live_counts() -> tuple[int, int, int]:
    """Tasks, subjects that someone still observes, and their observers (the recorded events
    keep each speech handle, and so its subject, alive: that is the test's memory, not a cost)."""
    gc.collect()
    observed = [o for o in gc.get_objects() if isinstance(o, Subject) and o.observers]
    return (len(asyncio.all_tasks()), len(observed), sum(len(s.observers) for s in observed))


def test_per_turn_work_does_not_grow_with_the_conversation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    copies: list[int] = []
    original = chat_context._copy_item

    def counting_copy(item: Any) -> Any:
        copies.append(1)
        return original(item)

    monkeypatch.setattr(chat_context, "_copy_item", counting_copy)
    snapshots: dict[float, tuple[int, int, int]] = {}

    def snapshot(session: Any) -> None:
        snapshots[round(session.now(), 6)] = _live_counts()

    checkpoints = {0.5 + i * PERIOD - 0.1: snapshot for i in (2, 6, TURNS - 1)}
    script = _script(TURNS)
    r = run_virtual(simulate(script, agent=Agent(instructions="Be brief."), actions=checkpoints))
    assert [m for m in r.messages() if m[0] == "assistant"] == [
        ("assistant", f"Answer {i}.", False) for i in range(TURNS)]
    # no history item is copied per turn: not by the session, nor by the fake LLM's record of
    # each call (which keeps the items it was shown, shared)
    assert r.llm is not None
    assert all(call.chat_ctx.items for call in r.llm.calls)
    assert copies == []
    tasks, subjects, observers = zip(*snapshots.values(), strict=True)
    assert len(set(tasks)) == 1, snapshots  # no task piles up
    assert len(set(subjects)) == 1, snapshots  # no observed subject is left behind per turn
    assert len(set(observers)) == 1, snapshots  # nor any subscription
