"""Graph: nodes and port-to-port edges, composed in Python.

``with Graph("voice") as g:`` opens a composition; ``g.input`` / ``g.output`` declare the graph's
own streams (as :class:`GraphInput` / :class:`GraphOutput` nodes), ``g.feedback`` declares a stream
that is produced downstream and consumed upstream (its edges are marked ``feedback`` and are the
only edges allowed to close a cycle). A graph called like a node inside another graph becomes a
:class:`Subgraph` node. :meth:`Graph.validate` checks everything before anything runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import (
    CycleError,
    DuplicateNodeError,
    FeedbackUnboundError,
    GraphValidationError,
    InputAlreadyConnectedError,
    RequiredInputError,
    TypeMismatchError,
    UnknownNodeError,
    UnknownPortError,
)
from .node import Node, NodeConfig, OutPort, Outputs, _current_graph, current_graph
from .ports import In, Out, PortDecl, PortRef, is_compatible, resolve_type, type_name

__all__ = [
    "Edge", "FeedbackPort", "Graph", "GraphInput", "GraphOutput", "Subgraph", "current_graph",
]


@dataclass(frozen=True, slots=True)
class Edge:
    source: PortRef
    target: PortRef
    feedback: bool = False


class _StreamConfig(NodeConfig):
    type: str = "Any"


class GraphInput(Node):
    """A stream that enters the graph (audio from the room, text from a chat box)."""

    Config = _StreamConfig
    kind = "source"

    def output_ports(self) -> tuple[PortDecl, ...]:
        return (Out("out", _stream_type(self)),)

    def build(self, ctx: Any, inputs: Any) -> Any:  # wired by the runtime, never built
        raise TypeError("GraphInput is wired by the runtime")


class GraphOutput(Node):
    """A stream that leaves the graph (audio to the speaker, events to the session)."""

    Config = _StreamConfig
    kind = "sink"

    def input_ports(self) -> tuple[PortDecl, ...]:
        return (In("in", _stream_type(self)),)

    def build(self, ctx: Any, inputs: Any) -> Any:
        raise TypeError("GraphOutput is wired by the runtime")


def _stream_type(node: Node) -> Any:
    name = getattr(node.config, "type", "Any")
    try:
        return resolve_type(name)
    except LookupError:
        raise UnknownPortError(
            f"node {node.name!r} declares unknown stream type {name!r}", node=node.name
        ) from None


class Subgraph(Node):
    """A graph used as one node of another graph: its inputs and outputs become ports."""

    kind = "subgraph"

    def __init__(self, graph: Graph, *, name: str | None = None) -> None:
        super().__init__(name=name)  # unnamed: Graph.add names it (plus_two, plus_two_2)
        self.graph = graph

    def default_name(self) -> str:
        return self.graph.name

    def input_ports(self) -> tuple[PortDecl, ...]:
        return tuple(
            In(n.name or "", n.output_ports()[0].type) for n in self.graph.nodes_of(GraphInput)
        )

    def output_ports(self) -> tuple[PortDecl, ...]:
        return tuple(
            Out(n.name or "", n.input_ports()[0].type) for n in self.graph.nodes_of(GraphOutput)
        )

    def summary(self) -> str:
        return f"{len(self.graph)} nodes"


@dataclass
class FeedbackPort:
    """A stream consumed before it is produced; :meth:`bind` names its producer later."""

    graph: Graph
    name: str
    type: Any
    consumers: list[PortRef] = field(default_factory=list)
    source: PortRef | None = None

    def bind(self, port: OutPort) -> None:
        if self.source is not None:
            raise GraphValidationError(f"feedback {self.name!r} is already bound to {self.source}")
        self.source = port.ref
        for target in self.consumers:
            self.graph.connect(port, target, feedback=True)


class Graph:
    """A directed graph of nodes whose edges join an output port to an input port."""

    node_kind: ClassVar[str] = "subgraph"

    def __init__(self, name: str) -> None:
        self.name = name
        # the edges by source node, then target node, then (source port, target port), each
        # level in insertion order (as networkx's MultiDiGraph holds them, so edges come out in
        # the same order as when one held them); networkx itself is imported only for what needs
        # it (pictures, :attr:`nx`, naming the nodes of a cycle): a process running sessions
        # does not pay its import (16 MiB)
        self._succ: dict[str, dict[str, dict[tuple[str, str], Edge]]] = {}
        self._nodes: dict[str, Node] = {}
        self._feedbacks: dict[str, FeedbackPort] = {}
        self._token: Any = None
        # what is derived from the structure, kept while it does not change: every session of
        # a shared graph (see graphs.voice.shared_voice_graph) validates it and orders it at
        # start, a millisecond each time, with the same answer
        self._version = 0
        self._memo: dict[str, tuple[Any, Any]] = {}

    # -- composing -----------------------------------------------------------------------------
    def __enter__(self) -> Graph:
        self._token = _current_graph.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current_graph.reset(self._token)
        self._token = None

    def add(self, node: Node, name: str | None = None) -> Node:
        """Add a node under its name (or a fresh one derived from its class)."""
        if name is not None:
            node.name = name
        if node.name is None:
            base = node.default_name()
            candidate, i = base, 1
            while candidate in self._nodes:
                i += 1
                candidate = f"{base}_{i}"
            node.name = candidate
        elif node.name in self._nodes:
            if self._nodes[node.name] is node:
                raise DuplicateNodeError(
                    f"node {node.name!r} is already in graph {self.name!r}", node=node.name
                )
            raise DuplicateNodeError(
                f"graph {self.name!r} already has a node named {node.name!r}", node=node.name
            )
        if "." in node.name or not node.name:
            raise GraphValidationError(f"invalid node name {node.name!r}", node=node.name)
        self._nodes[node.name] = node
        self._succ[node.name] = {}
        self._changed()
        return node

    def connect(self, source: OutPort | FeedbackPort | PortRef | str, target: PortRef | str, *,
                feedback: bool = False) -> Edge:
        """Join an output port to an input port. Checks names now; types at :meth:`validate`."""
        self._changed()
        if isinstance(source, FeedbackPort):
            dst = target if isinstance(target, PortRef) else PortRef.parse(str(target))
            source.consumers.append(dst)
            if source.source is None:
                return Edge(PortRef(source.name, "<unbound>"), dst, True)
            return self.connect(source.source, dst, feedback=True)
        if isinstance(source, OutPort):
            src = source.ref
        elif isinstance(source, PortRef):
            src = source
        else:
            src = PortRef.parse(source)
        dst = target if isinstance(target, PortRef) else PortRef.parse(str(target))
        for ref in (src, dst):
            if ref.node not in self._nodes:
                raise UnknownNodeError(
                    f"graph {self.name!r} has no node {ref.node!r} (edge {src} -> {dst})",
                    node=ref.node, port=ref.port,
                )
        if (src.port, dst.port) in self._succ[src.node].get(dst.node, {}):
            raise InputAlreadyConnectedError(
                f"edge {src} -> {dst} is already in graph {self.name!r}",
                node=dst.node, port=dst.port,
            )
        edge = Edge(src, dst, feedback)
        self._succ[src.node].setdefault(dst.node, {})[(src.port, dst.port)] = edge
        return edge

    def input(self, name: str, type: Any = object) -> OutPort:
        node = self.add(GraphInput(type=type_name(type)), name)
        return self.outputs_of(node.name or "")  # type: ignore[no-any-return]

    def output(self, name: str, port: OutPort) -> None:
        node = self.add(GraphOutput(type=type_name(port.type)), name)
        self.connect(port, PortRef(node.name or "", "in"))

    def feedback(self, name: str, type: Any = object) -> FeedbackPort:
        if name in self._feedbacks:
            raise DuplicateNodeError(f"feedback {name!r} is declared twice", node=name)
        fb = FeedbackPort(self, name, type)
        self._feedbacks[name] = fb
        self._changed()
        return fb

    def outputs_of(self, node_name: str) -> Any:
        node = self._nodes[node_name]
        ports = {
            d.name: OutPort(self, PortRef(node_name, d.name), d) for d in node.output_ports()
        }
        if len(ports) == 1:
            return next(iter(ports.values()))
        return Outputs(ports)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Use this graph as a node of the graph being composed."""
        return Subgraph(self)(*args, **kwargs)

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise UnknownNodeError(f"graph {self.name!r} has no node {name!r}", node=name) from None

    def nodes_of(self, cls: type[Node]) -> list[Node]:
        return [n for n in self._nodes.values() if isinstance(n, cls)]

    @property
    def input_names(self) -> list[str]:
        return [n.name or "" for n in self.nodes_of(GraphInput)]

    @property
    def output_names(self) -> list[str]:
        return [n.name or "" for n in self.nodes_of(GraphOutput)]

    @property
    def nx(self) -> Any:
        """This graph as a networkx MultiDiGraph (edge data: ``edge`` -> :class:`Edge`), built
        when asked for: a copy, changing it does not change the graph."""
        import networkx as nx

        g = nx.MultiDiGraph()
        g.add_nodes_from(self._nodes)
        for edge in self.edges():
            g.add_edge(edge.source.node, edge.target.node,
                       key=(edge.source.port, edge.target.port), edge=edge)
        return g

    def edges(self) -> list[Edge]:
        return [edge for targets in self._succ.values() for keyed in targets.values()
                for edge in keyed.values()]

    def remove_edge(self, edge: Edge) -> None:
        targets = self._succ.get(edge.source.node, {})
        keyed = targets.get(edge.target.node, {})
        key = (edge.source.port, edge.target.port)
        if key not in keyed:
            import networkx as nx  # its error, as when it held the edges

            raise nx.NetworkXError(f"The edge {edge.source.node}-{edge.target.node} with key "
                                   f"{key} is not in the graph.")
        del keyed[key]
        if not keyed:
            del targets[edge.target.node]
        self._changed()

    def remove_node(self, name: str) -> None:
        self.node(name)
        del self._nodes[name]
        del self._succ[name]
        for targets in self._succ.values():
            targets.pop(name, None)
        self._changed()

    # -- derived, while unchanged ----------------------------------------------------------------
    def _changed(self) -> None:
        self._version += 1
        self._memo.clear()

    def structure_key(self) -> tuple[Any, ...]:
        """Changes whenever this graph or a subgraph in it changes through their methods (what
        :meth:`memo` is kept against)."""
        subs = tuple(n.graph.structure_key() for n in self._nodes.values()
                     if isinstance(n, Subgraph))
        return (id(self), self._version, subs)

    def memo(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once while the graph's structure (:meth:`structure_key`) stays
        the same: what the runtime derives from a graph for each session it starts (the order
        of its nodes, who consumes what) is the same for every session of a shared graph."""
        key = self.structure_key()
        held = self._memo.get(name)
        if held is not None and held[0] == key:
            return held[1]
        value = make()
        self._memo[name] = (key, value)
        return value

    def topological_order(self) -> list[str]:
        """Node names so that every non-feedback edge goes forward. Assumes a validated graph."""
        return list(self.memo("topological_order", self._topological_order))

    def _forward(self) -> dict[str, set[str]]:
        """Each node's successors along the edges that are not feedback."""
        return {u: {v for v, keyed in targets.items()
                    if any(not e.feedback for e in keyed.values())}
                for u, targets in self._succ.items()}

    def _topological_order(self) -> tuple[str, ...]:
        order = self._order_if_acyclic()
        if order is None:
            import networkx as nx  # its error, as when it sorted: pictures catch it

            raise nx.NetworkXUnfeasible("Graph contains a cycle or graph changed during "
                                        "iteration")
        return order

    def _order_if_acyclic(self) -> tuple[str, ...] | None:
        """The lexicographically first order (what networkx's lexicographical_topological_sort
        gives: a node as soon as all its predecessors are placed, the least name first), or
        None when the forward edges close a cycle."""
        forward = self._forward()
        indegree = dict.fromkeys(forward, 0)
        for targets in forward.values():
            for v in targets:
                indegree[v] += 1
        ready = [name for name, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for v in forward[name]:
                indegree[v] -= 1
                if indegree[v] == 0:
                    heapq.heappush(ready, v)
        return tuple(order) if len(order) == len(forward) else None

    # -- validation ----------------------------------------------------------------------------
    def problems(self) -> list[GraphValidationError]:
        """Everything wrong with this graph, each error naming its node and port."""
        problems: list[GraphValidationError] = []
        connected: dict[PortRef, Edge] = {}
        for edge in sorted(self.edges(), key=lambda e: (e.target, e.source)):
            src_node, dst_node = self._nodes[edge.source.node], self._nodes[edge.target.node]
            try:
                src_decl = src_node.output_port(edge.source.port)
            except UnknownPortError as e:
                problems.append(e)
                continue
            try:
                dst_decl = dst_node.input_port(edge.target.port)
            except UnknownPortError as e:
                problems.append(e)
                continue
            if edge.target in connected:
                problems.append(InputAlreadyConnectedError(
                    f"input {edge.target} is fed twice: by {connected[edge.target].source} "
                    f"and by {edge.source}", node=edge.target.node, port=edge.target.port))
                continue
            connected[edge.target] = edge
            if not is_compatible(src_decl.type, dst_decl.type):
                problems.append(TypeMismatchError(
                    f"edge {edge.source} -> {edge.target}: {type_name(src_decl.type)} does not "
                    f"fit input of type {type_name(dst_decl.type)}",
                    node=edge.target.node, port=edge.target.port))
        for name, node in self._nodes.items():
            try:
                ports = node.input_ports()
            except GraphValidationError as e:
                problems.append(e)
                continue
            for decl in ports:
                if decl.required and PortRef(name, decl.name) not in connected:
                    problems.append(RequiredInputError(
                        f"required input {name}.{decl.name} is not connected",
                        node=name, port=decl.name))
            if isinstance(node, Subgraph):
                for inner in node.graph.problems():
                    inner_node = f"{name}/{inner.node}" if inner.node else name
                    problems.append(type(inner)(f"in subgraph {name!r}: {inner}",
                                                node=inner_node, port=inner.port))
        for fb in self._feedbacks.values():
            if fb.source is None and fb.consumers:
                problems.append(FeedbackUnboundError(
                    f"feedback {fb.name!r} feeds {', '.join(map(str, fb.consumers))} but is "
                    f"never bound to a producer", node=fb.consumers[0].node,
                    port=fb.consumers[0].port))
        problems.extend(self._cycles())
        return problems

    def _cycles(self) -> list[GraphValidationError]:
        if self.memo("acyclic_order", self._order_if_acyclic) is not None:
            return []
        import networkx as nx  # a cycle (rare): networkx names its nodes

        forward = nx.DiGraph()
        forward.add_nodes_from(self._nodes)
        forward.add_edges_from((u, v) for u, targets in self._forward().items() for v in targets)
        found: list[GraphValidationError] = []
        for component in nx.strongly_connected_components(forward):
            if len(component) > 1 or any(forward.has_edge(n, n) for n in component):
                cycle = sorted(component)
                found.append(CycleError(
                    f"cycle without a feedback edge through {' -> '.join(cycle)}; mark the edge "
                    f"that closes it with feedback=True (Graph.feedback)", node=cycle[0]))
        return found

    def validate(self) -> None:
        """Raise the first problem (with all of them in ``problems``) if the graph must not run.
        A graph found valid is not checked again until it changes (see :meth:`memo`)."""
        if self.memo("valid", lambda: not self.problems()):
            return
        problems = self.problems()
        if problems:
            first = problems[0]
            if len(problems) > 1:
                more = "\n".join(f"  - {p}" for p in problems[1:])
                first.args = (f"{first}\n  and {len(problems) - 1} more:\n{more}",)
            first.problems = problems
            raise first

    # -- pictures ----------------------------------------------------------------------------
    #: How a notebook draws a graph: set by :mod:`flowagents.graph.render` when it loads, so that
    #: the model does not import its picture (which imports the model).
    svg_renderer: ClassVar[Callable[[Graph], str] | None] = None

    def _repr_svg_(self) -> str | None:
        render = Graph.svg_renderer
        return None if render is None else render(self)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self)} nodes, {len(self.edges())} edges)"
