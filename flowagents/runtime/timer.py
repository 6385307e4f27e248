"""Timer: one pending deadline on the job's scheduler, the scaffold every timed rule shares.

The interruption rule (``min_interruption_duration``), the false-interruption watch
(``false_interruption_timeout``) and the user-away rule (``user_away_timeout``) each wait for one
moment that a later event may cancel or move. :class:`Timer` is that: ``at(due)`` replaces what
was pending with an absolute deadline on the scheduler (so it lands exactly, in real and in
virtual time), runs the action at once when the moment has already passed, and ``cancel()``
drops it. It is a disposable, so a node adds it to its subscription and disposal cancels it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import abc

from .scheduler import seconds

__all__ = ["Timer"]


class Timer(abc.DisposableBase):
    """One pending call of ``action()`` at an absolute time on ``scheduler``."""

    __slots__ = ("_action", "_handle", "_scheduler")

    def __init__(self, scheduler: abc.SchedulerBase, action: Callable[[], None]) -> None:
        self._scheduler = scheduler
        self._action = action
        self._handle: abc.DisposableBase | None = None

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def now(self) -> float:
        return seconds(self._scheduler)

    def at(self, due: float) -> None:
        """Call the action at ``due`` (seconds on the session clock), replacing any pending
        call; at once when ``due`` has passed."""
        self.cancel()
        if due <= self.now():
            self._action()
        else:
            self._handle = self._scheduler.schedule_absolute(due, self._fire)

    def after(self, delay: float) -> None:
        self.at(self.now() + delay)

    def _fire(self, _s: abc.SchedulerBase, _st: Any = None) -> None:
        self._handle = None
        self._action()

    def cancel(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.dispose()

    def dispose(self) -> None:
        self.cancel()
