"""Async bridges: disposal cancels the task and closes the iterator; errors arrive as on_error."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest
from reactivex.subject import Subject

from flowagents.runtime import (
    from_async_iterable,
    from_coroutine,
    run_virtual,
    to_async_iterator,
)


class Stream:
    """An async generator that says what happened to it."""

    def __init__(self, items: int = 5, every: float = 1.0, fail_at: int | None = None) -> None:
        self.items, self.every, self.fail_at = items, every, fail_at
        self.log: list[str] = []

    async def __call__(self) -> AsyncIterator[int]:
        self.log.append("open")
        try:
            for k in range(self.items):
                await asyncio.sleep(self.every)
                if k == self.fail_at:
                    raise ConnectionError("stream broke")
                yield k
        except asyncio.CancelledError:
            self.log.append("cancelled")
            raise
        finally:
            self.log.append("closed")


class Probe:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, Any]] = []

    def observer(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return {
            "on_next": lambda v: self.events.append((loop.time(), "next", v)),
            "on_error": lambda e: self.events.append((loop.time(), "error", repr(e))),
            "on_completed": lambda: self.events.append((loop.time(), "completed", None)),
        }


def test_items_arrive_in_virtual_time_then_completion() -> None:
    stream, probe = Stream(items=3), Probe()

    async def main() -> None:
        from_async_iterable(stream).subscribe(**probe.observer())
        await asyncio.sleep(10)

    run_virtual(main())
    assert probe.events == [(1.0, "next", 0), (2.0, "next", 1), (3.0, "next", 2),
                            (3.0, "completed", None)]
    assert stream.log == ["open", "closed"]


def test_dispose_cancels_the_task_and_closes_the_iterator() -> None:
    stream, probe = Stream(items=10), Probe()

    async def main() -> tuple[int, int]:
        own = asyncio.all_tasks()
        subscription = from_async_iterable(stream).subscribe(**probe.observer())
        await asyncio.sleep(2.5)
        running = len(asyncio.all_tasks() - own)
        subscription.dispose()
        await asyncio.sleep(0)
        return running, len(asyncio.all_tasks() - own)

    running, left = run_virtual(main())
    assert (running, left) == (1, 0)
    assert probe.events == [(1.0, "next", 0), (2.0, "next", 1)]
    assert stream.log == ["open", "cancelled", "closed"]


def test_an_error_of_the_stream_is_on_error_and_still_closes_it() -> None:
    stream, probe = Stream(items=5, fail_at=2), Probe()

    async def main() -> None:
        from_async_iterable(stream).subscribe(**probe.observer())
        await asyncio.sleep(10)

    run_virtual(main())
    assert probe.events == [(1.0, "next", 0), (2.0, "next", 1),
                            (3.0, "error", "ConnectionError('stream broke')")]
    assert stream.log == ["open", "closed"]


def test_eager_subscription_delivers_what_is_ready_then_goes_on_in_a_task() -> None:
    probe, log = Probe(), []
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")

    async def items() -> AsyncIterator[int]:
        var.set("stream")  # the stream's context is its own, as in a task
        yield 0
        yield 1
        await asyncio.sleep(1.0)
        log.append(var.get())
        yield 2

    async def main() -> list[tuple[float, str, Any]]:
        from_async_iterable(items, eager=True).subscribe(**probe.observer())
        during = list(probe.events)  # delivered inside subscribe
        assert var.get() == "caller"
        await asyncio.sleep(5)
        return during

    during = run_virtual(main())
    assert during == [(0.0, "next", 0), (0.0, "next", 1)]
    assert probe.events[2:] == [(1.0, "next", 2), (1.0, "completed", None)]
    assert log == ["stream"]


def test_eager_subscription_disposed_before_its_task_runs_cancels_and_closes() -> None:
    stream, probe = Stream(items=10), Probe()

    async def main() -> int:
        own = asyncio.all_tasks()
        from_async_iterable(stream, eager=True).subscribe(**probe.observer()).dispose()
        await asyncio.sleep(0)
        return len(asyncio.all_tasks() - own)

    assert run_virtual(main()) == 0
    assert probe.events == []
    assert stream.log == ["open", "cancelled", "closed"]

    finished = Probe()

    async def ready() -> AsyncIterator[int]:
        yield 7

    async def main2() -> None:
        from_async_iterable(ready, eager=True).subscribe(**finished.observer())

    run_virtual(main2())
    assert finished.events == [(0.0, "next", 7), (0.0, "completed", None)]


def test_each_subscription_runs_its_own_stream() -> None:
    stream = Stream(items=2)

    async def main() -> list[int]:
        got: list[int] = []
        source = from_async_iterable(stream)
        source.subscribe(got.append)
        await asyncio.sleep(0.5)
        source.subscribe(got.append)
        await asyncio.sleep(5)
        return got

    assert run_virtual(main()) == [0, 0, 1, 1]
    assert stream.log == ["open", "open", "closed", "closed"]


def test_from_coroutine_result_error_and_cancellation() -> None:
    log: list[str] = []

    async def answer(value: Any, after: float) -> Any:
        try:
            await asyncio.sleep(after)
        except asyncio.CancelledError:
            log.append("abandoned")
            raise
        if isinstance(value, Exception):
            raise value
        return value

    async def main() -> Probe:
        probe = Probe()
        from_coroutine(lambda: answer(42, 1.0)).subscribe(**probe.observer())
        from_coroutine(lambda: answer(TimeoutError("slow"), 2.0)).subscribe(**probe.observer())
        pending = from_coroutine(lambda: answer(7, 3.0)).subscribe(**probe.observer())
        await asyncio.sleep(2.5)
        pending.dispose()
        await asyncio.sleep(5)
        return probe

    probe = run_virtual(main())
    assert probe.events == [(1.0, "next", 42), (1.0, "completed", None),
                            (2.0, "error", "TimeoutError('slow')")]
    assert log == ["abandoned"]


def test_to_async_iterator_disposes_when_left_early_and_raises_errors() -> None:
    async def main() -> tuple[list[int], int]:
        subject: Subject[int] = Subject()
        got: list[int] = []
        loop = asyncio.get_running_loop()
        for k in range(5):
            loop.call_later(k + 1, subject.on_next, k)
        async with contextlib.aclosing(to_async_iterator(subject)) as values:
            async for value in values:
                got.append(value)
                if value == 2:
                    break
        return got, len(subject.observers)

    assert run_virtual(main()) == ([0, 1, 2], 0)

    async def plain_break() -> tuple[int, int]:
        # Without aclosing, Python closes an abandoned async generator through the loop's
        # finalizer hook: the subscription ends one loop turn later, not at the break.
        subject: Subject[int] = Subject()
        asyncio.get_running_loop().call_later(1, subject.on_next, 0)
        async for _ in to_async_iterator(subject):
            break
        at_break = len(subject.observers)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return at_break, len(subject.observers)

    assert run_virtual(plain_break()) == (1, 0)

    async def failing() -> list[int]:
        subject: Subject[int] = Subject()
        loop = asyncio.get_running_loop()
        loop.call_later(1, subject.on_next, 1)
        loop.call_later(2, subject.on_error, ValueError("upstream failed"))
        got = []
        async for value in to_async_iterator(subject):
            got.append(value)
        return got

    with pytest.raises(ValueError, match="upstream failed"):
        run_virtual(failing())
