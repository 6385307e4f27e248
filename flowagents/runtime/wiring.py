"""Wiring: turn a validated graph into connected observables, node by node in topological order.

Each node is built with the streams of its upstream ports. An output port that feeds several inputs
is shared (one upstream subscription for all of them, see :class:`FanOut`) and connected only after
every consumer has subscribed, so no consumer misses a value emitted at subscription time. Its
consumers receive each value in topological order of their nodes, whatever the order in which they
happened to subscribe: a node that also consumes a sibling's reaction to a value (a gate fed by
the audio and by the VAD of that audio) sees that reaction before the value. A feedback
edge feeds its consumer from a subject that is subscribed to the producer once all nodes are built.
Every output is guarded: an error names its node and port, is reported, and ends only that stream.
With a :class:`~flowagents.runtime.stats.GraphStats` resource, each node's outputs are counted and
its inputs timed (the live graph view); without one, nothing is added.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable
from reactivex.subject import Subject

from flowagents.graph.errors import NodeError
from flowagents.graph.graph import Edge, Graph, GraphInput, GraphOutput, Subgraph
from flowagents.graph.node import BuildContext
from flowagents.graph.ports import PortRef

from .bridge import LOOP_LOCK, DirectObservable, Dispose, Sink
from .stats import STATS_RESOURCE, GraphStats
from .subject import LoopSubject

__all__ = ["FanOut", "Wiring", "guard", "wire_graph"]


@dataclass
class Wiring:
    """What must happen after all nodes are built: feedback subscriptions, then connections."""

    feedback: list[Callable[[], abc.DisposableBase]] = field(default_factory=list)
    connect: list[Callable[[], abc.DisposableBase]] = field(default_factory=list)

    def finish(self, into: CompositeDisposable) -> None:
        for action in self.feedback:
            into.add(action())
        for action in self.connect:
            into.add(action())
        self.feedback.clear()
        self.connect.clear()


def guard(source: Observable[Any], node: str, port: str,
          report: Callable[[NodeError], None]) -> Observable[Any]:
    """Pass values straight through; turn an error into a reported NodeError and a completion.

    The upstream is subscribed with no scheduler, whatever the downstream passes: operators such
    as ``delay`` subscribe their source *with their scheduler*, and a ``merge`` or ``start_with``
    upstream would then defer its subscription to a later loop turn, so values pushed into a
    just-started graph would be lost. At a node boundary, subscription is always immediate.
    """
    return _Guarded(source, node, port, report)


class _Guarded(DirectObservable[Any]):
    """:func:`guard`'s observable: slotted objects rather than closures and their cells, as
    there is one per node output of every session, alive as long as the session."""

    def __init__(self, source: Observable[Any], node: str, port: str,
                 report: Callable[[NodeError], None]) -> None:
        self.lock = LOOP_LOCK
        self.source, self.node, self.port, self.report = source, node, port, report

    def _direct(self, sink: Sink[Any]) -> abc.DisposableBase:
        return subscribe_sink(self.source, _GuardedSink(self, sink))


class _GuardedSink(Sink[Any]):
    """One subscription to a guarded output, in one object: values go straight to the
    subscriber's callback (one layer less per value at every node output), an error is
    reported with its node and port and ends the stream, and disposing it disposes the
    upstream subscription."""

    __slots__ = ("detach_at_end", "down", "guarded", "upstream")

    def __init__(self, guarded: _Guarded, down: Sink[Any]) -> None:
        super().__init__(down.handle_next)
        self.guarded, self.down = guarded, down
        self.upstream: abc.DisposableBase | None = None
        self.detach_at_end = False  # dispose the upstream at its end (an auto-detach observer)

    def on_error(self, error: Exception) -> None:
        if not self.stopped:
            self.stopped = True
            g = self.guarded
            try:
                g.report(error if isinstance(error, NodeError)
                         else NodeError(g.node, g.port, error))
                self.down.on_completed()
            finally:
                self._ended()

    def on_completed(self) -> None:
        if not self.stopped:
            self.stopped = True
            try:
                self.down.on_completed()
            finally:
                self._ended()

    def _ended(self) -> None:
        if self.detach_at_end:
            self.dispose()

    def dispose(self) -> None:
        super().dispose()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.dispose()


def subscribe_sink(source: Observable[Any], sink: _GuardedSink) -> abc.DisposableBase:
    """Subscribe ``sink`` itself to ``source`` and return it as the subscription.

    Our own observables take the sink as it is. A plain reactivex ``Observable`` (what
    ``reactivex.create`` and the operators return) gets it in place of the auto-detach observer
    that ``Observable.subscribe`` would build, with its lock, its two disposables and their
    bound methods (the sink stops after the end and when disposed, as that observer does), and
    without the current-thread trampoline, as every subscription at a node boundary is
    immediate (see :func:`guard`); an error raised while subscribing becomes ``on_error``, as
    there. Anything else is subscribed as usual.
    """
    if isinstance(source, DirectObservable):
        upstream = source._direct(sink)
    elif isinstance(source, LoopSubject):
        upstream = source._subscribe_core(sink)
    elif type(source) is Observable and source._subscribe is not None:
        sink.detach_at_end = True
        try:
            upstream = source._subscribe(sink, None)
        except Exception as exc:
            if sink.stopped:
                raise
            sink.on_error(exc)
            return sink
        if not isinstance(upstream, abc.DisposableBase) and not hasattr(upstream, "dispose"):
            upstream = Dispose(upstream) if callable(upstream) else None
    else:
        upstream = source.subscribe(sink)
    if upstream is not sink:
        sink.upstream = upstream
        if sink.stopped and sink.detach_at_end:  # it ended while subscribing
            sink.dispose()
    return sink


class FanOut(abc.ObserverBase[Any]):
    """One upstream subscription shared by several consumers, each served in a fixed rank order.

    reactivex's ``publish`` serves its subscribers in subscription order, which depends on how
    the rest of the graph happens to be built (adding a consumer downstream can reorder
    subscriptions upstream), so same-instant behaviour would change with unrelated edits. Here a
    consumer subscribes through :meth:`port` with a rank, and values reach ranks in ascending
    order (subscribers of one rank in subscription order). Like a subject, a consumer that
    subscribes after the end gets the end. Two flat lists (ranks, and sinks in rank order,
    copied on write), as there are some ten fan-outs in every session.
    """

    __slots__ = ("_ranks", "_sinks", "_source", "_terminal")

    def __init__(self, source: Observable[Any]) -> None:
        self._source = source
        self._ranks: list[tuple[int, str]] = []
        self._sinks: list[Sink[Any]] = []  # in rank order; replaced, never mutated
        self._terminal: Callable[[abc.ObserverBase[Any]], None] | None = None

    def port(self, rank: tuple[int, str]) -> Observable[Any]:
        return _Port(self, rank)

    def add(self, rank: tuple[int, str], sink: Sink[Any]) -> abc.DisposableBase:
        """Serve ``sink`` at ``rank``; return what removes it (the sink itself)."""
        if self._terminal is not None:
            self._terminal(sink)
            return sink
        if sink.owner is not None:  # held elsewhere already: serve a sink of its own
            sink = Sink(sink)
        i = bisect.bisect_right(self._ranks, rank)
        self._ranks.insert(i, rank)
        sinks = self._sinks
        self._sinks = [*sinks[:i], sink, *sinks[i:]]
        sink.owner = self
        return sink

    def detach(self, sink: Sink[Any]) -> None:
        sink.stopped = True  # not even the value being handed out now
        sinks = self._sinks
        for i, held in enumerate(sinks):
            if held is sink:
                del self._ranks[i]
                self._sinks = [*sinks[:i], *sinks[i + 1:]]
                return

    def connect(self) -> abc.DisposableBase:
        return self._source.subscribe(self)

    def on_next(self, value: Any) -> None:
        for sink in self._sinks:
            if not sink.stopped:
                sink.handle_next(value)

    def _end(self, terminal: Callable[[abc.ObserverBase[Any]], None]) -> None:
        self._terminal = terminal
        observers, self._sinks, self._ranks = self._sinks, [], []
        for observer in observers:
            terminal(observer)

    def on_error(self, exc: Exception) -> None:
        self._end(lambda observer: observer.on_error(exc))

    def on_completed(self) -> None:
        self._end(lambda observer: observer.on_completed())


class _Port(DirectObservable[Any]):
    """One consumer's view of a :class:`FanOut` (slotted state, not a closure: one per fan-out
    edge of every session)."""

    def __init__(self, fan: FanOut, rank: tuple[int, str]) -> None:
        self.lock = LOOP_LOCK
        self.fan, self.rank = fan, rank

    def _direct(self, sink: Sink[Any]) -> abc.DisposableBase:
        return self.fan.add(self.rank, sink)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What wiring derives from a graph's structure, the same for every session of a graph
    (kept by :meth:`Graph.memo`): the build order, each node's incoming edges by port, the
    outputs that feed several inputs, and each consumer's rank at a fan-out (shared tuples)."""

    order: tuple[str, ...]
    incoming: Mapping[str, Mapping[str, Edge]]
    shared: frozenset[PortRef]
    rank: Mapping[Edge, tuple[int, str]]


def _plan(graph: Graph) -> _Plan:
    edges = graph.edges()
    fan_out = Counter(edge.source for edge in edges)
    incoming: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        incoming.setdefault(edge.target.node, {})[edge.target.port] = edge
    order = tuple(graph.topological_order())
    position = {name: i for i, name in enumerate(order)}
    return _Plan(order, incoming, frozenset(ref for ref, n in fan_out.items() if n > 1),
                 {edge: (position[edge.target.node], edge.target.port) for edge in edges})


def wire_graph(graph: Graph, ctx: BuildContext,
               inputs: Mapping[str, Observable[Any]]) -> dict[str, Observable[Any]]:
    """Build every node of ``graph`` and return the streams of its outputs, by output name."""
    wiring: Wiring = ctx.resources["__wiring__"]
    stats: GraphStats | None = ctx.resources.get(STATS_RESOURCE)  # the live view, when watched
    prefix = f"{ctx.node}/" if ctx.node else ""
    plan: _Plan = graph.memo("wiring_plan", lambda: _plan(graph))
    incoming, rank = plan.incoming, plan.rank
    streams: dict[PortRef, Observable[Any] | FanOut] = {}
    results: dict[str, Observable[Any]] = {}

    def stream_of(edge: Edge) -> Observable[Any]:
        stream = streams[edge.source]
        if isinstance(stream, FanOut):
            return stream.port(rank[edge])
        return stream

    for name in plan.order:
        node = graph.node(name)
        path = prefix + name
        if isinstance(node, GraphOutput):
            results[name] = stream_of(incoming[name]["in"])
            continue
        if isinstance(node, GraphInput):
            if name not in inputs:
                raise NodeError(path, "out", KeyError(f"no stream given for input {name!r}"))
            outs: Mapping[str, Observable[Any]] = {"out": inputs[name]}
        else:
            node_inputs: dict[str, Observable[Any]] = {}
            for port, edge in incoming.get(name, {}).items():
                if edge.feedback:
                    subject: Subject[Any] = LoopSubject()
                    node_inputs[port] = subject
                    wiring.feedback.append(_feed(stream_of, edge, subject))
                else:
                    node_inputs[port] = stream_of(edge)
                if stats is not None and not isinstance(node, Subgraph):
                    node_inputs[port] = stats.timed(path, node_inputs[port])
            try:
                if isinstance(node, Subgraph):  # a graph in a graph: wired here, in place
                    outs = wire_graph(node.graph, ctx.child(path), node_inputs)
                else:
                    outs = node.build(ctx.child(path), node_inputs)
            except NodeError:
                raise
            except Exception as exc:
                raise NodeError(path, None, exc) from exc
            missing = [p.name for p in node.output_ports() if p.name not in outs]
            if missing:
                raise NodeError(path, missing[0], KeyError(f"build() returned no {missing[0]!r}"))
        for port, stream in outs.items():
            ref = PortRef(name, port)
            if not isinstance(node, GraphInput):
                stream = guard(stream, path, port, ctx.report_error)
                if stats is not None:
                    stream = stats.counted(path, stream)
            if ref in plan.shared:
                shared = FanOut(stream)
                wiring.connect.append(shared.connect)
                streams[ref] = shared
            else:
                streams[ref] = stream
    return results


def _feed(stream_of: Callable[[Edge], Observable[Any]], edge: Edge,
          subject: Subject[Any]) -> Callable[[], abc.DisposableBase]:
    return lambda: stream_of(edge).subscribe(subject)
