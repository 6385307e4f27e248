"""LoopScheduler: a reactivex scheduler on the job's asyncio loop whose ``now`` is the loop clock.

reactivex's own ``AsyncIOScheduler`` reports wall-clock time as ``now`` while it times actions with
the loop, and any time-based operator given no scheduler falls back to ``TimeoutScheduler``, which
starts a thread per pending timer. Every time-based operator in a flowagents graph gets this
scheduler instead: actions run on the loop thread, and under a virtual-time loop (see
:mod:`flowagents.runtime.virtual_time`) ``now`` and every timer are virtual too.

Time is "seconds on the session clock" everywhere: ``now`` is ``UTC_ZERO + loop.time()`` seconds,
the same convention as reactivex's ``TestScheduler`` (whose clock is seconds since the epoch).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar

from reactivex import abc, typing
from reactivex.internal.constants import UTC_ZERO
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["LoopScheduler", "seconds"]

_TState = TypeVar("_TState")


def seconds(scheduler: abc.SchedulerBase) -> float:
    """The scheduler's ``now`` as seconds on the session clock."""
    if isinstance(scheduler, LoopScheduler):
        return scheduler.loop.time()
    return float(scheduler.to_seconds(scheduler.now))


class _Handle(abc.DisposableBase):
    """A scheduled action: cancels the loop's handle, or disposes what the action returned.
    Lock-free (loop thread only): playout schedules one per frame of speech, endpointing and
    interruption one per turn."""

    __slots__ = ("handle", "inner", "is_disposed")

    def __init__(self) -> None:
        self.handle: asyncio.Handle | None = None
        self.inner: abc.DisposableBase | None = None
        self.is_disposed = False

    def dispose(self) -> None:
        if self.is_disposed:
            return
        self.is_disposed = True
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.dispose()


class LoopScheduler(PeriodicScheduler):
    """Schedules reactivex actions with ``loop.call_soon`` / ``loop.call_at``, on the loop thread.

    Not thread-safe, by design: a graph is synchronous inside and only its edges cross threads.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self.loop = loop if loop is not None else asyncio.get_running_loop()

    @property
    def now(self) -> datetime:
        return UTC_ZERO + timedelta(seconds=self.loop.time())

    def _run(self, handle: _Handle, action: typing.ScheduledAction[Any], state: Any) -> None:
        handle.handle = None  # run: the loop's handle (whose arguments hold ours) is not a cycle
        if handle.is_disposed:
            return
        inner = action(self, state)  # what invoke_action does, minus a no-op Disposable per run
        if not isinstance(inner, abc.DisposableBase):
            return
        if handle.is_disposed:  # disposed by its own action
            inner.dispose()
        else:
            handle.inner = inner

    def schedule(
        self, action: typing.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        handle = _Handle()
        handle.handle = self.loop.call_soon(self._run, handle, action, state)
        return handle

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: typing.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        delay = self.to_seconds(duetime)
        if delay <= 0:
            return self.schedule(action, state)
        handle = _Handle()
        handle.handle = self.loop.call_at(self.loop.time() + delay, self._run, handle, action,
                                          state)
        return handle

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: typing.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        when = self.to_seconds(duetime) if isinstance(duetime, datetime) else float(duetime)
        handle = _Handle()
        handle.handle = self.loop.call_at(when, self._run, handle, action, state)
        return handle
