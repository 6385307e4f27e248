"""LoopSubject: a reactivex ``Subject`` for the job's loop thread, the hot edges of a graph.

A graph is synchronous inside and runs on one loop thread (see the runtime), so its subjects
(graph inputs and outputs, feedback edges, the session's event stream) need not take a lock
twice per value as reactivex's ``Subject`` does, nor wrap each subscriber in an auto-detach
observer behind the current-thread trampoline. The audio input carries a value every 10-20 ms of
every session, and a reply's state changes cross several of these on the path from the end of
speech to the first audio. Same contract otherwise: values go to a snapshot of the subscribers
(one that leaves meanwhile gets nothing more), nothing after the end, and a disposed subject
raises.
"""

from __future__ import annotations

from typing import Any, TypeVar

from reactivex import abc
from reactivex.internal import DisposedException
from reactivex.observer import Observer
from reactivex.subject import Subject

from .bridge import LOOP_LOCK, Sink

__all__ = ["LoopSubject"]

_T = TypeVar("_T")


class LoopSubject(Subject[_T]):
    """A lock-free ``Subject`` whose subscribers are :class:`Sink` values (loop thread only; see
    the module docstring)."""

    def __init__(self) -> None:
        # not Subject.__init__: no lock of its own (two per subject: one long-lived object
        # each, per edge of every session); the loop thread's shared one where reactivex's
        # code takes a lock (on_error, on_completed, dispose)
        Observer.__init__(self)
        self.lock = LOOP_LOCK
        self.is_disposed = False
        self.observers: list[abc.ObserverBase[_T]] = []
        self.exception: Exception | None = None

    def subscribe(
        self, on_next: Any = None, on_error: Any = None, on_completed: Any = None, *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return self._subscribe_core(Sink(on_next, on_error, on_completed), scheduler)

    def _subscribe_core(self, observer: abc.ObserverBase[_T],
                        scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        sink = (observer if isinstance(observer, Sink) and observer.owner is None
                else Sink(observer))
        self.check_disposed()
        if self.is_stopped:
            if self.exception is not None:
                sink.on_error(self.exception)
            else:
                sink.on_completed()
            return sink
        # copy on write: a subscription is rare, a value is not, so ``on_next`` iterates the
        # current list as its snapshot instead of copying it per value
        self.observers = [*self.observers, sink]
        sink.owner = self  # the sink is the subscription: disposing it detaches it
        return sink

    def on_next(self, value: _T) -> None:
        if self.is_disposed:
            raise DisposedException()
        if self.is_stopped:
            return
        sinks: list[Sink[_T]] = self.observers  # type: ignore[assignment]  # never mutated
        for sink in sinks:
            if not sink.stopped:
                sink.handle_next(value)

    def detach(self, sink: Sink[Any]) -> None:
        """Remove one subscriber (what disposing its sink does)."""
        observers = self.observers
        if sink in observers:
            self.observers = [o for o in observers if o is not sink]
