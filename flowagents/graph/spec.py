"""Graph specs: a graph as plain data (pydantic models), written and read as JSON or YAML.

A spec lists nodes (name, type, config; a :class:`Subgraph` node nests its inner graph's spec)
and edges (``"node.port"`` to ``"node.port"``, ``feedback: true`` on the edges that close a
loop). A node type is a short name from the registry (:func:`register_node`; the graph's own
``GraphInput``, ``GraphOutput`` and ``Subgraph`` are registered) or an import path
``module:QualName``. Loading a spec imports the modules it names, so load only specs you trust.

A spec that cannot be loaded raises :class:`SpecError` whose ``location`` points into the
spec (``nodes[3].config.pre_roll``, ``edges[2].source``). A spec that loads into a graph that
must not run (a port that does not exist, mismatched types, a cycle) is for
:meth:`Graph.validate`, which names the node and port. A graph written as a spec and read back
writes the same spec again, and the JSON and YAML texts round-trip unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from .errors import FeedbackUnboundError, GraphValidationError, SpecError
from .graph import Graph, GraphInput, GraphOutput, Subgraph
from .node import Node
from .ports import PortRef, resolve_type

__all__ = [
    "SPEC_VERSION",
    "EdgeSpec",
    "GraphSpec",
    "NodeSpec",
    "graph_from_json",
    "graph_from_spec",
    "graph_from_yaml",
    "graph_to_json",
    "graph_to_spec",
    "graph_to_yaml",
    "node_type_name",
    "register_node",
    "resolve_node",
    "spec_from_json",
    "spec_from_yaml",
    "spec_to_json",
    "spec_to_yaml",
]

SPEC_VERSION = 1
"""The spec format this code writes; it reads this version and older ones."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EdgeSpec(_Spec):
    """An edge from an output port to an input port, both written ``"node.port"``."""

    source: str
    target: str
    feedback: bool = False

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.feedback:  # most edges are forward: keep the written spec short
            data.pop("feedback", None)
        return data


class NodeSpec(_Spec):
    """A node: its name in the graph, its type (registry name or ``module:QualName``), config."""

    name: str
    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    graph: GraphSpec | None = None
    """The inner graph of a ``Subgraph`` node; absent for every other node."""

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.graph is None:
            data.pop("graph", None)
        return data


class GraphSpec(_Spec):
    """A whole graph as data. ``version`` is the spec format's, for readers to come."""

    version: int = SPEC_VERSION
    name: str
    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if not 1 <= version <= SPEC_VERSION:
            raise ValueError(f"spec version {version} is not supported (this reader knows "
                             f"1 to {SPEC_VERSION})")
        return version


NodeSpec.model_rebuild()


# -- the node registry -----------------------------------------------------------------------
_N = TypeVar("_N", bound=type[Node])
_NODES: dict[str, type[Node]] = {}
_NAMES: dict[type[Node], str] = {}


def register_node(cls: _N, name: str | None = None) -> _N:
    """Give a node class a short name in specs (``Gate`` instead of ``nodes.audio.gate:Gate``).

    Usable as a decorator. A spec that uses the short name loads only where the registering
    module has been imported; an import path always loads.
    """
    key = name or cls.__qualname__
    old = _NODES.get(key)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__,
                                                                   cls.__qualname__):
        raise ValueError(f"node name {key!r} is already registered for "
                         f"{old.__module__}:{old.__qualname__}")
    _NODES[key] = cls
    _NAMES[cls] = key
    return cls


for _cls in (GraphInput, GraphOutput, Subgraph):
    register_node(_cls)


def node_type_name(cls: type[Node]) -> str:
    """The spec name of a node class: its registered name, else ``module:QualName``."""
    if cls in _NAMES:
        return _NAMES[cls]
    if "<locals>" in cls.__qualname__:
        raise ValueError(f"node class {cls.__qualname__} is defined inside a function: a spec "
                         f"cannot import it; define it at module level or use register_node")
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_node(name: str, *, location: str = "") -> type[Node]:
    """The node class for a spec type name; a :class:`SpecError` at ``location`` when unknown."""
    if name in _NODES:
        return _NODES[name]
    module, sep, qualname = name.partition(":")
    if not sep or not module or not qualname:
        known = ", ".join(sorted(_NODES))
        raise SpecError(f"unknown node type {name!r} (registered: {known}; or use an import "
                        f"path 'module:QualName')", location=location)
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise SpecError(f"node type {name!r}: cannot import {module!r}: {e}",
                        location=location) from e
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise SpecError(f"node type {name!r}: module {module!r} has no {qualname!r}",
                            location=location)
    if not (isinstance(obj, type) and issubclass(obj, Node)):
        raise SpecError(f"node type {name!r} is not a Node class", location=location)
    return obj


# -- graph <-> spec --------------------------------------------------------------------------
def graph_to_spec(graph: Graph) -> GraphSpec:
    """The spec of a graph. Raises when a feedback is never bound (a spec cannot hold it)."""
    for fb in graph._feedbacks.values():
        if fb.source is None and fb.consumers:
            raise FeedbackUnboundError(
                f"feedback {fb.name!r} is never bound to a producer: a spec cannot hold it",
                node=fb.consumers[0].node, port=fb.consumers[0].port)
    nodes = []
    for node in graph:
        inner = graph_to_spec(node.graph) if isinstance(node, Subgraph) else None
        nodes.append(NodeSpec(name=node.name or "", type=node_type_name(type(node)),
                              config=node.spec_config(), graph=inner))
    edges = [EdgeSpec(source=str(e.source), target=str(e.target), feedback=e.feedback)
             for e in graph.edges()]
    return GraphSpec(name=graph.name, nodes=nodes, edges=edges)


def graph_from_spec(spec: GraphSpec | Mapping[str, Any]) -> Graph:
    """Build the graph a spec describes (not validated: call :meth:`Graph.validate`)."""
    if not isinstance(spec, GraphSpec):
        try:
            spec = GraphSpec.model_validate(spec)
        except ValidationError as e:
            raise _spec_error(e, "") from None
    _import_node_classes(spec, "")
    return _build(spec, "")


def _import_node_classes(spec: GraphSpec, prefix: str) -> None:
    """Resolve every node type first: their modules register the stream types the spec names
    (a graph input of type ``Speech`` comes before the node whose module registers it)."""
    for i, ns in enumerate(spec.nodes):
        resolve_node(ns.type, location=f"{prefix}nodes[{i}].type")
        if ns.graph is not None:
            _import_node_classes(ns.graph, f"{prefix}nodes[{i}].graph.")


def _build(spec: GraphSpec, prefix: str) -> Graph:
    graph = Graph(spec.name)
    for i, ns in enumerate(spec.nodes):
        at = f"{prefix}nodes[{i}]"
        if ns.name in graph:
            raise SpecError(f"duplicate node name {ns.name!r}", location=f"{at}.name")
        node = _make_node(resolve_node(ns.type, location=f"{at}.type"), ns, at)
        try:
            graph.add(node, ns.name)
        except GraphValidationError as e:
            raise SpecError(str(e), location=f"{at}.name") from None
    seen: set[tuple[PortRef, PortRef]] = set()
    for k, es in enumerate(spec.edges):
        at = f"{prefix}edges[{k}]"
        src = _port_ref(graph, es.source, f"{at}.source")
        dst = _port_ref(graph, es.target, f"{at}.target")
        if (src, dst) in seen:
            raise SpecError(f"duplicate edge {src} -> {dst}", location=at)
        seen.add((src, dst))
        graph.connect(src, dst, feedback=es.feedback)
    return graph


def _make_node(cls: type[Node], ns: NodeSpec, at: str) -> Node:
    if issubclass(cls, Subgraph) != (ns.graph is not None):
        raise SpecError("a Subgraph node needs an inner 'graph', and only a Subgraph has one",
                        location=f"{at}.graph")
    try:
        if issubclass(cls, Subgraph) and ns.graph is not None:
            cls.Config.model_validate(ns.config)
            node: Node = cls(_build(ns.graph, f"{at}.graph."))
        else:
            node = cls.from_spec_config(ns.config)
    except ValidationError as e:
        raise _spec_error(e, f"{at}.config", f"node {ns.name!r} ({ns.type}): ") from None
    except (ValueError, TypeError, LookupError) as e:
        raise SpecError(f"node {ns.name!r} ({ns.type}): {type(e).__name__}: {e}",
                        location=f"{at}.config") from e
    if isinstance(node, GraphInput | GraphOutput):
        stream = str(getattr(node.config, "type", ""))
        try:
            resolve_type(stream)
        except LookupError as e:
            raise SpecError(f"node {ns.name!r}: {e.args[0]}",
                            location=f"{at}.config.type") from None
    return node


def _port_ref(graph: Graph, text: str, location: str) -> PortRef:
    try:
        ref = PortRef.parse(text)
    except ValueError as e:
        raise SpecError(str(e), location=location) from None
    if ref.node not in graph:
        raise SpecError(f"no node named {ref.node!r} in graph {graph.name!r}", location=location)
    return ref


def _spec_error(error: ValidationError, prefix: str, context: str = "") -> SpecError:
    """Translate pydantic's first error into a SpecError located in the spec."""
    first = error.errors()[0]
    location = prefix
    for part in first["loc"]:
        location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else part)
    more = error.error_count() - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return SpecError(f"{context}{first['msg']}{tail}", location=location)


# -- text --------------------------------------------------------------------------------------
def spec_to_json(spec: GraphSpec, indent: int | None = 2) -> str:
    return spec.model_dump_json(indent=indent)


def spec_from_json(text: str | bytes) -> GraphSpec:
    try:
        return GraphSpec.model_validate_json(text)
    except ValidationError as e:
        raise _spec_error(e, "") from None


class _Dumper(yaml.SafeDumper):
    """PyYAML folds a Unicode line break (NEL, LS, PS) inside a plain or single-quoted string
    into a space; such strings are written double-quoted, where they are escaped."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def spec_to_yaml(spec: GraphSpec) -> str:
    return yaml.dump(spec.model_dump(mode="json"), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True)


def spec_from_yaml(text: str | bytes) -> GraphSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {e}") from None
    try:
        return GraphSpec.model_validate(data)
    except ValidationError as e:
        raise _spec_error(e, "") from None


def graph_to_json(graph: Graph, indent: int | None = 2) -> str:
    return spec_to_json(graph_to_spec(graph), indent)


def graph_to_yaml(graph: Graph) -> str:
    return spec_to_yaml(graph_to_spec(graph))


def graph_from_json(text: str | bytes) -> Graph:
    return graph_from_spec(spec_from_json(text))


def graph_from_yaml(text: str | bytes) -> Graph:
    return graph_from_spec(spec_from_yaml(text))
