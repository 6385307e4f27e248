"""A job process's side of the live graph view: its sessions, reported to the worker while watched.

The sessions of a job run in its process, and the page is served by the worker, so the process
reports them over its IPC channel. It does so only while someone watches the page (the worker
says so with :class:`~flowagents.ipc.messages.InspectWatch`): then once every interval, one
:class:`~flowagents.ipc.messages.SessionsReport` holding every session running (its states and
per-node counters, which the wiring gathers in place: nothing crosses the channel per frame).
Each session's graph goes along once, as its spec (the JSON of :mod:`flowagents.graph.spec`: about
a millisecond to write, and no picture library loaded in the job); the worker rebuilds the graph
and lays it out when the page asks (a graph without a spec, say a node whose config cannot be
written, goes as DOT text instead). A session missing from a report
has ended; the worker drops the sessions of a process that exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from flowagents.ipc.messages import Message, NodeSample, SessionSample, SessionsReport

__all__ = ["SessionReporter", "enable_inspection"]

logger = logging.getLogger("flowagents.ipc")


INSPECT_ENV = "FLOWAGENTS_INSPECT"  # flowagents.session.inspect.INSPECT_ENV
_INSPECT_MODULE = "flowagents.session.inspect"


def enable_inspection() -> None:
    """Count per-node values in the sessions this process starts from now (their nodes' work
    is timed only while watched).

    Without importing the session package (a second of a process's start when its agent does
    not use it): the inspector reads the variable when the package loads.
    """
    os.environ[INSPECT_ENV] = "count"
    inspector = _inspector()
    if inspector is not None:  # loaded already (the agent's module imports the session)
        inspector.enable()
        inspector.time_nodes(False)


def _inspector() -> Any:
    """The process's inspector if the session package is loaded, else None (no session)."""
    module = sys.modules.get(_INSPECT_MODULE)
    return None if module is None else module.INSPECTOR


class SessionReporter:
    """Sends this process's sessions to the worker every ``interval`` seconds while watched.

    ``job`` gives the job's id and room name (empty before the job starts).
    """

    def __init__(self, send: Callable[[Message], None],
                 job: Callable[[], tuple[str, str]]) -> None:
        self._send = send
        self._job = job
        self._task: asyncio.Task[None] | None = None
        self._graphs_sent: set[str] = set()

    @property
    def watching(self) -> bool:
        return self._task is not None

    def watch(self, interval: float) -> None:
        """Report every ``interval`` seconds from now (graphs again), or stop (``0``)."""
        os.environ[INSPECT_ENV] = "1" if interval > 0 else "count"  # for a package loaded later
        inspector = _inspector()
        if inspector is not None:
            inspector.time_nodes(interval > 0)
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if interval > 0:
            self._graphs_sent.clear()  # the worker forgot them when the watch ended
            self._task = asyncio.get_running_loop().create_task(
                self._loop(interval), name="job-inspect-report")

    async def _loop(self, interval: float) -> None:
        failed = False
        while True:
            try:
                self._send(self.report())
            except Exception:  # the view must never end a job: say so once, keep trying
                if not failed:
                    logger.exception("cannot report the sessions to the live graph view")
                failed = True
            await asyncio.sleep(interval)

    def report(self) -> SessionsReport:
        """Every watched session running now, with its counters since the last report."""
        inspector = _inspector()
        samples = []
        for w in [] if inspector is None else inspector.sessions():
            spec = dot = None
            if w.id not in self._graphs_sent:
                self._graphs_sent.add(w.id)
                spec, dot = _graph(w.session)
            samples.append(SessionSample(
                id=w.id, agent_state=str(getattr(w.session, "agent_state", "")),
                user_state=str(getattr(w.session, "user_state", "")),
                nodes={path: NodeSample(**n) for path, n in w.stats.snapshot().items()},
                graph_spec=spec, graph_dot=dot))
        job_id, room = self._job()
        return SessionsReport(job_id=job_id, room=room, sessions=samples)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _graph(session: Any) -> tuple[str | None, str | None]:
    """The session's running graph as ``(spec, None)``, else ``(None, dot)``, else nothing
    (logged once)."""
    try:
        from flowagents.graph.spec import graph_to_json

        return graph_to_json(session.runtime.graph, indent=None), None
    except Exception:  # a node with no spec: the picture alone (loads the renderer)
        pass
    try:
        from flowagents.graph.render import to_dot

        return None, to_dot(session.runtime.graph)
    except Exception as e:
        logger.warning("cannot draw a session's graph for the live view",
                       extra={"error": type(e).__name__})
        return None, None
