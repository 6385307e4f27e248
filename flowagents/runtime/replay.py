"""Replay: start a cold stream now, and give every later subscriber all it emitted, then the rest.

A preemptive reply's LLM text (and, with ``preemptive_tts``, its audio) starts before its turn
commits; playout subscribes when the turn commits and must get everything from the start.
reactivex's ``replay()`` does that with a ``ReplaySubject`` that stamps each value with a
scheduler's clock and replays it through a scheduled observer, on the path from the end of speech
to the first audio; :func:`replay_now` keeps the values in a plain list (a reply's values are few
and live no longer than the reply).
"""

from __future__ import annotations

from typing import Any, TypeVar

from reactivex import Observable, abc

from .bridge import DirectObservable, Dispose, Sink

__all__ = ["replay_now"]

_T = TypeVar("_T")


class _Recording(abc.ObserverBase[Any]):
    __slots__ = ("end", "sinks", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.end: tuple[bool, Exception | None] | None = None  # (failed, error)
        self.sinks: list[Sink[Any]] = []

    def on_next(self, value: Any) -> None:
        self.values.append(value)
        for sink in tuple(self.sinks):
            sink.on_next(value)

    def on_error(self, error: Exception) -> None:
        self._finish((True, error))

    def on_completed(self) -> None:
        self._finish((False, None))

    def _finish(self, end: tuple[bool, Exception | None]) -> None:
        if self.end is not None:
            return
        self.end = end
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            _deliver_end(sink, end)

    def subscribe(self, sink: Sink[Any]) -> abc.DisposableBase:
        values = self.values
        i = 0
        while i < len(values) and not sink.stopped:  # values that arrive meanwhile too
            sink.on_next(values[i])
            i += 1
        if self.end is not None:
            _deliver_end(sink, self.end)
            return sink
        self.sinks.append(sink)

        def remove() -> None:
            sink.stopped = True
            if sink in self.sinks:
                self.sinks.remove(sink)

        return Dispose(remove)


def _deliver_end(sink: Sink[Any], end: tuple[bool, Exception | None]) -> None:
    failed, error = end
    if failed:
        assert error is not None
        sink.on_error(error)
    else:
        sink.on_completed()


def replay_now(source: Observable[_T]) -> tuple[Observable[_T], abc.DisposableBase]:
    """Subscribe to ``source`` now. Returns the replaying observable (each subscriber gets every
    value so far, then the live ones and the end) and the connection (disposing it disposes the
    subscription to ``source``)."""
    recording = _Recording()
    connection = source.subscribe(recording)
    return DirectObservable(recording.subscribe), connection
