"""An asyncio event loop on a virtual clock: sleeps and timers complete at once, in exact order.

When the loop has nothing ready to run and would wait for its next timer, it moves its clock to
that timer instead of sleeping. So ``await asyncio.sleep(30)`` takes microseconds, every
``loop.call_at`` fires at exactly its time, and a graph on a :class:`LoopScheduler` runs in virtual
time unchanged. Real I/O still works (the selector is polled without waiting first); the clock only
jumps when no I/O is ready. Use :func:`run_virtual` to run a coroutine on a fresh virtual loop.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["VirtualClockSelector", "VirtualTimeEventLoop", "run_virtual"]

_T = TypeVar("_T")


class VirtualClockSelector(selectors.DefaultSelector):
    """A selector that advances the loop's clock instead of blocking until the next timer."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready:
            return ready
        if timeout is None:  # no timer pending: only I/O can wake the loop, so wait for it
            return list(super().select(None))
        if timeout > 0:
            self.clock += timeout
        return ready


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual, starting at ``start`` seconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._virtual = VirtualClockSelector()
        self._virtual.clock = start
        super().__init__(self._virtual)
        # asyncio rounds timers to the clock resolution; a virtual clock is exact.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual.clock

    def advance(self, seconds: float) -> None:
        """Move the clock forward by hand (timers due by then fire on the next iteration)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._virtual.clock += seconds


def run_virtual(main: Coroutine[Any, Any, _T], *, start: float = 0.0, debug: bool = False) -> _T:
    """Run a coroutine to completion on a new virtual-time loop and close the loop."""
    loop = VirtualTimeEventLoop(start)
    loop.set_debug(debug)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
