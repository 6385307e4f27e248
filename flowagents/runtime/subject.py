"""LoopSubject: a reactivex ``Subject`` for the job's loop thread, the hot edges of a graph.

A graph is synchronous inside and runs on one loop thread (see the runtime), so its subjects
(graph inputs and outputs, feedback edges, the session's event stream) need not take a lock
twice per value as reactivex's ``Subject`` does. The audio input carries a value every 10-20 ms
of every session, and a reply's state changes cross several of these on the path from the end of
speech to the first audio. Same contract otherwise: values go to a snapshot of the observers
(an observer may subscribe or leave meanwhile), nothing after the end, and a disposed subject
raises.
"""

from __future__ import annotations

from typing import TypeVar

from reactivex.internal import DisposedException
from reactivex.subject import Subject

__all__ = ["LoopSubject"]

_T = TypeVar("_T")


class LoopSubject(Subject[_T]):
    """A ``Subject`` whose ``on_next`` is lock-free (loop thread only; see the module docstring)."""

    def on_next(self, value: _T) -> None:
        if self.is_disposed:
            raise DisposedException()
        if self.is_stopped:
            return
        for observer in self.observers.copy():
            observer.on_next(value)
