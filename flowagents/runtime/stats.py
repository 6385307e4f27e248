"""Per-node counters of a running graph, for the live graph view (off unless asked for).

With a :class:`GraphStats` among a runtime's resources (``STATS_RESOURCE``), the wiring counts
the values each node emits (per node: how many, the last one and when) and times the work each
node does on the values it receives: the time from a value's arrival at a node's input to the
end of its handling, minus the time spent in the nodes downstream that it fed (so each node's
``spent`` is its own). Without it the wiring adds nothing at all. With :attr:`GraphStats.timing`
off (a job process whose worker's page nobody watches) values are counted but nothing is timed:
no clock read, a third of the cost saved (``bench/bench_inspect.py`` measures both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivex import Observable, abc

from .bridge import DirectObservable, Sink
from .safe_repr import safe_repr

__all__ = ["STATS_RESOURCE", "GraphStats", "NodeCounters"]

STATS_RESOURCE = "__stats__"


@dataclass(slots=True)
class NodeCounters:
    """What one node did: values emitted, the last value and its time, seconds of own work."""

    values: int = 0
    last: Any = None
    last_at: float = 0.0
    spent: float = 0.0


class GraphStats:
    """The counters of one running graph, by node path."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.nodes: dict[str, NodeCounters] = {}
        self._clock = clock
        self._nested = 0.0  # time measured inside the value being handled now
        self._created = clock()
        self._previous: dict[str, tuple[float, int]] = {}
        self.timing = True  # False: count values only, no clock reads (nobody watches)

    def node(self, path: str) -> NodeCounters:
        counters = self.nodes.get(path)
        if counters is None:
            counters = self.nodes[path] = NodeCounters()
        return counters

    def counted(self, path: str, source: Observable[Any]) -> Observable[Any]:
        """``source`` (an output of node ``path``) with its values counted."""
        counters, clock = self.node(path), self._clock

        def subscribe(sink: Sink[Any]) -> abc.DisposableBase:
            handle = sink.handle_next

            def count(value: Any) -> None:
                counters.values += 1
                counters.last = value
                if self.timing:
                    counters.last_at = clock()
                handle(value)

            return source.subscribe(count, sink.on_error, sink.on_completed)

        return DirectObservable(subscribe)

    def timed(self, path: str, source: Observable[Any]) -> Observable[Any]:
        """``source`` (an input of node ``path``) with the node's own handling timed."""
        counters, clock = self.node(path), self._clock

        def subscribe(sink: Sink[Any]) -> abc.DisposableBase:
            handle = sink.handle_next

            def on_next(value: Any) -> None:
                if not self.timing:
                    handle(value)
                    return
                outer = self._nested
                self._nested = 0.0
                start = clock()
                try:
                    handle(value)
                finally:
                    took = clock() - start
                    counters.spent += took - self._nested
                    self._nested = outer + took

            return source.subscribe(on_next, sink.on_error, sink.on_completed)

        return DirectObservable(subscribe)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per node: values, values per second since the last snapshot, the last value (a
        short, safe text: :func:`~flowagents.runtime.safe_repr.safe_repr`), seconds since it,
        and milliseconds of own work."""
        now = self._clock()
        out: dict[str, dict[str, Any]] = {}
        for path, c in self.nodes.items():
            then, before = self._previous.get(path, (self._created, 0))
            rate = (c.values - before) / (now - then) if now > then else 0.0
            self._previous[path] = (now, c.values)
            out[path] = {"values": c.values, "rate": round(rate, 2),
                         "last": safe_repr(c.last) if c.values else "",
                         "age": None if not c.values else round(now - c.last_at, 3),
                         "spent_ms": round(c.spent * 1e3, 3)}
        return out
