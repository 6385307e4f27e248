"""The lock-free loop primitives on the hot path: LoopScheduler's handles and LoopSubject's
copy-on-write subscribers, on a virtual-time loop with exact times."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.internal import DisposedException

from flowagents.runtime import run_virtual
from flowagents.runtime.scheduler import LoopScheduler
from flowagents.runtime.subject import LoopSubject


def test_actions_run_at_their_time_and_disposal_cancels_them() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        scheduler = LoopScheduler(loop)
        ran: list[tuple[str, float]] = []

        def note(name: str) -> Any:
            return lambda _s, _st=None: ran.append((name, loop.time()))

        scheduler.schedule_absolute(1.5, note("absolute"))
        scheduler.schedule_relative(timedelta(seconds=0.25), note("relative"))
        scheduler.schedule(note("soon"))
        cancelled = scheduler.schedule_relative(0.5, note("cancelled"))
        cancelled.dispose()
        cancelled.dispose()  # twice is harmless
        await asyncio.sleep(2.0)
        return ran

    assert run_virtual(main()) == [("soon", 0.0), ("relative", 0.25), ("absolute", 1.5)]


def test_what_an_action_returns_is_disposed_with_its_handle() -> None:
    async def main() -> tuple[list[str], list[float]]:
        loop = asyncio.get_running_loop()
        scheduler = LoopScheduler(loop)
        disposed: list[str] = []
        ticks: list[float] = []

        def returns_disposable(_s: abc.SchedulerBase, _st: Any = None) -> abc.DisposableBase:
            return Disposable(lambda: disposed.append("inner"))

        handle = scheduler.schedule_relative(0.1, returns_disposable)
        await asyncio.sleep(0.2)
        assert disposed == []  # ran, and its result is held until the handle goes
        handle.dispose()

        holder: list[abc.DisposableBase] = []

        def disposes_itself(_s: abc.SchedulerBase, _st: Any = None) -> abc.DisposableBase:
            holder[0].dispose()
            return Disposable(lambda: disposed.append("self"))

        holder.append(scheduler.schedule(disposes_itself))
        await asyncio.sleep(0)

        periodic = scheduler.schedule_periodic(0.5, lambda _st: ticks.append(loop.time()))
        await asyncio.sleep(1.6)
        periodic.dispose()
        await asyncio.sleep(2.0)
        return disposed, ticks

    disposed, ticks = run_virtual(main())
    assert disposed == ["inner", "self"]
    assert ticks == pytest.approx([0.7, 1.2, 1.7])  # every 0.5 s from 0.2, none once disposed


def test_subject_delivers_to_a_snapshot_of_its_subscribers() -> None:
    subject: LoopSubject[int] = LoopSubject()
    seen: list[tuple[str, int]] = []
    late: list[abc.DisposableBase] = []

    def first(value: int) -> None:
        seen.append(("first", value))
        if value == 1:  # joins during a value: gets the next ones only
            late.append(subject.subscribe(lambda v: seen.append(("late", v))))
        if value == 2:
            second_sub.dispose()  # leaves during a value: gets nothing more, not even this one

    subject.subscribe(first)
    second_sub = subject.subscribe(lambda v: seen.append(("second", v)))
    for value in (1, 2, 3):
        subject.on_next(value)
    late[0].dispose()
    subject.on_next(4)
    completed: list[str] = []
    subject.subscribe(on_completed=lambda: completed.append("done"))
    subject.on_completed()
    subject.on_next(5)  # nothing after the end

    assert seen == [("first", 1), ("second", 1), ("first", 2), ("late", 2), ("first", 3),
                    ("late", 3), ("first", 4)]
    assert completed == ["done"]
    subject.dispose()
    with pytest.raises(DisposedException):
        subject.on_next(6)
