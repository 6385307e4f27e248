"""GraphRuntime: one running instance of a graph for one job.

``start()`` validates the graph, creates a subject per graph input, wires the nodes, and subscribes
a subject per graph output, so values flow as soon as inputs are pushed. ``close()`` disposes every
subscription (which cancels every task an async bridge started) and completes the outputs.
Node errors are logged, published on :attr:`GraphRuntime.errors`, and never raised into the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable
from reactivex.subject import Subject

from flowagents.graph.errors import NodeError
from flowagents.graph.graph import Graph
from flowagents.graph.node import BuildContext

from .scheduler import LoopScheduler
from .subject import LoopSubject
from .wiring import Wiring, wire_graph

__all__ = ["GraphRuntime"]

logger = logging.getLogger("flowagents.runtime")


class GraphRuntime:
    """Runs ``graph`` on ``scheduler`` (default: a :class:`LoopScheduler` on the running loop).

    Under reactivex's ``TestScheduler`` pass it as ``scheduler`` and no loop is needed.
    """

    def __init__(self, graph: Graph, *, scheduler: abc.SchedulerBase | None = None,
                 loop: asyncio.AbstractEventLoop | None = None,
                 resources: Mapping[str, Any] | None = None) -> None:
        self.graph = graph
        self._scheduler = scheduler
        self._loop = loop
        self._resources = dict(resources or {})
        self._inputs: dict[str, Subject[Any]] = {}
        self._outputs: dict[str, Subject[Any]] = {}
        self._errors: Subject[NodeError] = Subject()
        self._subscriptions = CompositeDisposable()
        self.started = False
        self.closed = False

    @property
    def scheduler(self) -> abc.SchedulerBase:
        if self._scheduler is None:
            raise RuntimeError("the runtime has not started")
        return self._scheduler

    def add_resource(self, name: str, value: Any) -> None:
        """One more resource for the nodes (before :meth:`start`)."""
        if self.started:
            raise RuntimeError("resources are given before the runtime starts")
        self._resources[name] = value

    @property
    def errors(self) -> Observable[NodeError]:
        return self._errors

    def start(self) -> GraphRuntime:
        if self.started:
            raise RuntimeError("a GraphRuntime starts once; build another for another job")
        self.graph.validate()
        if self._scheduler is None:
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            self._scheduler = LoopScheduler(loop)
        self._inputs = {name: LoopSubject() for name in self.graph.input_names}
        wiring = Wiring()
        ctx = BuildContext(self._scheduler, "", self._loop,
                           {**self._resources, "__wiring__": wiring}, self._report)
        streams = wire_graph(self.graph, ctx, self._inputs)
        for name, stream in streams.items():
            subject: Subject[Any] = LoopSubject()
            self._outputs[name] = subject
            self._subscriptions.add(stream.subscribe(subject))
        wiring.finish(self._subscriptions)
        self.started = True
        return self

    def _report(self, error: NodeError) -> None:
        logger.error("node error", extra={"node": error.node, "port": error.port},
                     exc_info=error.cause)
        self._errors.on_next(error)

    # -- edges ---------------------------------------------------------------------------------
    def input(self, name: str) -> abc.ObserverBase[Any]:
        """The observer that feeds graph input ``name``."""
        try:
            return self._inputs[name]
        except KeyError:
            raise KeyError(f"graph {self.graph.name!r} has no input {name!r} "
                           f"(inputs: {', '.join(self._inputs)})") from None

    def push(self, name: str, value: Any) -> None:
        self.input(name).on_next(value)

    def output(self, name: str) -> Observable[Any]:
        """The hot stream of graph output ``name``."""
        try:
            return self._outputs[name]
        except KeyError:
            raise KeyError(f"graph {self.graph.name!r} has no output {name!r} "
                           f"(outputs: {', '.join(self._outputs)})") from None

    # -- life ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Dispose every subscription and complete the outputs. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self._subscriptions.dispose()
        for subject in self._outputs.values():
            subject.on_completed()
        for subject in self._inputs.values():
            subject.dispose()
        self._errors.on_completed()

    async def __aenter__(self) -> GraphRuntime:
        return self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
        await asyncio.sleep(0)  # let cancelled bridge tasks run their cleanup

    def __enter__(self) -> GraphRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
