"""Wiring: turn a validated graph into connected observables, node by node in topological order.

Each node is built with the streams of its upstream ports. An output port that feeds several inputs
is published once (one upstream subscription for all of them) and connected only after every
consumer has subscribed, so no consumer misses a value emitted at subscription time. A feedback
edge feeds its consumer from a subject that is subscribed to the producer once all nodes are built.
Every output is guarded: an error names its node and port, is reported, and ends only that stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactivex import Observable, abc, operators
from reactivex.disposable import CompositeDisposable
from reactivex.subject import Subject

from flowagents.graph.errors import NodeError
from flowagents.graph.graph import Edge, Graph, GraphInput, GraphOutput
from flowagents.graph.node import BuildContext
from flowagents.graph.ports import PortRef

__all__ = ["Wiring", "guard", "wire_graph"]


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

    def subscribe(observer: abc.ObserverBase[Any],
                  scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        def on_error(exc: Exception) -> None:
            report(exc if isinstance(exc, NodeError) else NodeError(node, port, exc))
            observer.on_completed()

        return source.subscribe(observer.on_next, on_error, observer.on_completed)

    return Observable(subscribe)


def wire_graph(graph: Graph, ctx: BuildContext,
               inputs: Mapping[str, Observable[Any]]) -> dict[str, Observable[Any]]:
    """Build every node of ``graph`` and return the streams of its outputs, by output name."""
    wiring: Wiring = ctx.resources["__wiring__"]
    prefix = f"{ctx.node}/" if ctx.node else ""
    fan_out = Counter(edge.source for edge in graph.edges())
    incoming: dict[str, dict[str, Edge]] = {}
    for edge in graph.edges():
        incoming.setdefault(edge.target.node, {})[edge.target.port] = edge
    streams: dict[PortRef, Observable[Any]] = {}
    results: dict[str, Observable[Any]] = {}

    for name in graph.topological_order():
        node = graph.node(name)
        path = prefix + name
        if isinstance(node, GraphOutput):
            results[name] = streams[incoming[name]["in"].source]
            continue
        if isinstance(node, GraphInput):
            if name not in inputs:
                raise NodeError(path, "out", KeyError(f"no stream given for input {name!r}"))
            outs: Mapping[str, Observable[Any]] = {"out": inputs[name]}
        else:
            node_inputs: dict[str, Observable[Any]] = {}
            for port, edge in incoming.get(name, {}).items():
                if edge.feedback:
                    subject: Subject[Any] = Subject()
                    node_inputs[port] = subject
                    wiring.feedback.append(_feed(streams, edge.source, subject))
                else:
                    node_inputs[port] = streams[edge.source]
            try:
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
            if fan_out[ref] > 1:
                published = stream.pipe(operators.publish())
                wiring.connect.append(published.connect)
                stream = published
            streams[ref] = stream
    return results


def _feed(streams: Mapping[PortRef, Observable[Any]], source: PortRef,
          subject: Subject[Any]) -> Callable[[], abc.DisposableBase]:
    return lambda: streams[source].subscribe(subject)
