"""Node: the unit of a graph. It declares typed ports and a pydantic config, and builds Rx streams.

A node class lists its ``inputs`` and ``outputs`` (see :func:`In`, :func:`Out`) and its ``Config``.
:meth:`Node.build` receives one observable per connected input and returns one per output; most
nodes are a few reactivex operators. Calling a node on output ports (inside ``with Graph(...)``)
adds it to the graph and returns its output port, or an :class:`Outputs` when it has several.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict
from reactivex import Observable, abc

from .errors import NodeError, UnknownPortError
from .ports import PortDecl, PortRef

__all__ = ["BuildContext", "Node", "NodeConfig", "OutPort", "Outputs", "current_graph"]

class Composer(Protocol):
    """What composing a node needs of the graph it goes into (``Graph`` is one): the node module
    sits below the graph module, which holds nodes."""

    def add(self, node: Node, /) -> Node: ...

    def connect(self, source: OutPort | PortRef, target: PortRef, /) -> object: ...

    def outputs_of(self, node_name: str, /) -> Any: ...


_current_graph: ContextVar[Composer | None] = ContextVar("flowagents_current_graph", default=None)


def current_graph() -> Composer | None:
    """The graph being composed by the innermost ``with Graph(...)`` block, if any."""
    return _current_graph.get()


class NodeConfig(BaseModel):
    """Base of node configs: immutable, and unknown keys are an error (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(slots=True)
class BuildContext:
    """What a node gets when it is built for one job.

    ``scheduler`` must be given to every time-based operator; ``loop`` is the job's event loop
    (``None`` under a pure TestScheduler); ``resources`` holds per-job services (the session,
    providers) that nodes may look up by name.
    """

    scheduler: abc.SchedulerBase
    node: str = ""
    loop: Any = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    report_error: Callable[[NodeError], None] = lambda error: None

    def child(self, node: str) -> BuildContext:
        return BuildContext(self.scheduler, node, self.loop, self.resources, self.report_error)

    def now(self) -> float:
        """The session clock in seconds (virtual under test)."""
        loop = getattr(self.scheduler, "loop", None)  # a LoopScheduler's clock is its loop's:
        if loop is not None:  # read it directly, not through a datetime
            return float(loop.time())
        return self.scheduler.to_seconds(self.scheduler.now)


@dataclass(frozen=True, slots=True)
class OutPort:
    """An output port of a node that is in a graph: what node calls take as arguments."""

    graph: Composer
    ref: PortRef
    decl: PortDecl

    @property
    def type(self) -> Any:
        return self.decl.type

    def __repr__(self) -> str:
        return f"OutPort({self.ref})"


class Outputs(Mapping[str, OutPort]):
    """The output ports of a node with several outputs, by attribute or by key."""

    def __init__(self, ports: dict[str, OutPort]) -> None:
        self._ports = ports

    def __getattr__(self, name: str) -> OutPort:
        try:
            return self._ports[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> OutPort:
        return self._ports[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ports)

    def __len__(self) -> int:
        return len(self._ports)


def _snake(name: str) -> str:
    """``LLMReply`` -> ``llm_reply``, ``VADNode`` -> ``vad_node``: acronyms stay one word."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Node:
    """Base class of every node. Subclasses set ``inputs``, ``outputs``, ``Config`` and ``build``.

    ``kind`` styles the node in pictures: ``operator``, ``provider``, ``source``, ``sink``,
    ``subgraph``.
    """

    inputs: ClassVar[tuple[PortDecl, ...]] = ()
    outputs: ClassVar[tuple[PortDecl, ...]] = ()
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    kind: ClassVar[str] = "operator"
    #: The turn options this node's rule applies (they come in on its ``turn`` port): a picture
    #: of the graph shows their values in force on the node.
    reads: ClassVar[tuple[str, ...]] = ()
    #: Config fields a picture shows even at their default (the node's thresholds).
    shows: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: NodeConfig | None = None, *, name: str | None = None,
                 **options: Any) -> None:
        if config is not None and options:
            raise TypeError(f"{type(self).__name__}: pass either config or options, not both")
        self.config: NodeConfig = config if config is not None else self.Config(**options)
        self.name: str | None = name

    # -- ports ---------------------------------------------------------------------------------
    def input_ports(self) -> tuple[PortDecl, ...]:
        return type(self).inputs

    def output_ports(self) -> tuple[PortDecl, ...]:
        return type(self).outputs

    def input_port(self, name: str) -> PortDecl:
        for decl in self.input_ports():
            if decl.name == name:
                return decl
        raise UnknownPortError(
            f"node {self.name or type(self).__name__!r} has no input port {name!r} "
            f"(inputs: {', '.join(p.name for p in self.input_ports()) or 'none'})",
            node=self.name, port=name,
        )

    def output_port(self, name: str) -> PortDecl:
        for decl in self.output_ports():
            if decl.name == name:
                return decl
        raise UnknownPortError(
            f"node {self.name or type(self).__name__!r} has no output port {name!r} "
            f"(outputs: {', '.join(p.name for p in self.output_ports()) or 'none'})",
            node=self.name, port=name,
        )

    def default_name(self) -> str:
        return _snake(type(self).__name__)

    # -- building ------------------------------------------------------------------------------
    def build(
        self, ctx: BuildContext, inputs: Mapping[str, Observable[Any]]
    ) -> Mapping[str, Observable[Any]]:
        """Map the input streams to the output streams. Unconnected optional inputs are absent."""
        raise NotImplementedError(f"{type(self).__name__}.build")

    def options_in_force(self) -> Mapping[str, Any]:
        """Options this node provides to the rules of its graph (by name, as :attr:`reads`
        names them), for pictures; most nodes provide none."""
        return {}

    def summary(self) -> str:
        """A short text of the config for pictures: the fields that differ from the defaults,
        and the thresholds named by :attr:`shows` whatever their value."""
        fields = self.config.model_dump(mode="json")
        changed = self.config.model_dump(exclude_defaults=True, mode="json")
        parts = [f"{k}={_short(v)}" for k, v in fields.items()
                 if k in changed or k in self.shows]
        return ", ".join(parts)

    # -- specs -------------------------------------------------------------------------------
    def spec_config(self) -> dict[str, Any]:
        """The node's config as JSON data for a spec. Override when the node holds resources
        (a provider object) that its config alone does not describe."""
        return self.config.model_dump(mode="json")

    @classmethod
    def from_spec_config(cls, data: Mapping[str, Any]) -> Node:
        """Rebuild a node from :meth:`spec_config` data; a validation error names the field."""
        return cls(config=cls.Config.model_validate(data))

    # -- composing -----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Add this node to the current graph, connect the given ports, return its outputs."""
        graph = _graph_of(args, kwargs)
        graph.add(self)
        ports = self.input_ports()
        if len(args) > len(ports):
            raise TypeError(f"{self.name}: {len(args)} inputs given, {len(ports)} declared")
        for decl, port in zip(ports, args, strict=False):
            graph.connect(port, PortRef(self.name or "", decl.name))
        for port_name, port in kwargs.items():
            self.input_port(port_name)
            graph.connect(port, PortRef(self.name or "", port_name))
        return graph.outputs_of(self.name or "")


def _graph_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Composer:
    graph = current_graph()
    if graph is not None:
        return graph
    for port in (*args, *kwargs.values()):
        if isinstance(port, OutPort):
            return port.graph
    raise RuntimeError("call a node inside 'with Graph(...)' or on ports of a graph")


def _short(value: Any, limit: int = 24) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"
