"""The worker's view of the sessions running in its job processes, for the live graph view.

A job's sessions live in the job's process; the page is served by the worker. The page's polls
tell the board that someone watches; the board then asks the job processes (through the worker's
``on_watch``) to report every ``interval`` seconds, and keeps what each process reported last:
one report replaces the process's sessions, so a session missing from it has ended, and a
process that exits is dropped with all its sessions. ``linger`` seconds after the last poll
nobody watches any more: the processes stop reporting and the board forgets what it held (a
later watch starts afresh, graphs included). The poll that starts a watch waits (briefly) for
the first report of each process asked, so that even a lone ``curl`` sees the sessions. A
session's graph comes as its spec (or DOT text) and is rebuilt and laid out as SVG, in a thread
and once, when the page asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowagents.ipc.messages import SessionSample, SessionsReport

__all__ = ["InspectBoard", "RemoteSession"]

logger = logging.getLogger("flowagents.worker")


@dataclass(frozen=True, slots=True)
class RemoteSession:
    """One session of a job process, as last reported, with its graph (sent once): a spec
    (JSON) or DOT text."""

    page_id: str
    pid: int
    job_id: str
    room: str
    sample: SessionSample
    spec: str | None
    dot: str | None

    def row(self) -> dict[str, Any]:
        """The session as the page polls it."""
        s = self.sample
        return {"id": self.page_id, "pid": self.pid, "job_id": self.job_id, "room": self.room,
                "agent_state": s.agent_state, "user_state": s.user_state,
                "nodes": {path: n.model_dump() for path, n in s.nodes.items()}}


class InspectBoard:
    """The job processes' sessions, by process, while the page is watched."""

    def __init__(self, *, interval: float = 1.0, linger: float = 10.0,
                 on_watch: Callable[[float], int] | None = None) -> None:
        self.interval = interval
        self.linger = linger
        self.on_watch = on_watch  # tells the processes; returns how many it asked
        self._asked = 0
        self._reported: set[int] = set()
        self._first_reports: asyncio.Event | None = None
        self._by_pid: dict[int, dict[str, RemoteSession]] = {}
        self._svgs: dict[str, str] = {}
        self._last_poll = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def watching(self) -> bool:
        return self._timer is not None

    def touch(self) -> None:
        """A page asked: someone watches (the processes start reporting, if they were not)."""
        loop = asyncio.get_running_loop()
        self._last_poll = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(self.linger, self._check)
            self._asked = 0 if self.on_watch is None else self.on_watch(self.interval) or 0
            self._reported.clear()
            self._first_reports = asyncio.Event()
            self._note_reports()

    async def ready(self, within: float = 2.0) -> None:
        """Wait until each process asked when the watch began has reported (or ``within``)."""
        event = self._first_reports
        if event is not None and not event.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await event.wait()

    def _note_reports(self) -> None:
        if self._first_reports is not None and len(self._reported) >= self._asked:
            self._first_reports.set()

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._last_poll
        if idle < self.linger:
            self._timer = loop.call_later(self.linger - idle, self._check)
            return
        self._timer = None
        self._by_pid.clear()
        self._svgs.clear()
        self._first_reports = None
        if self.on_watch is not None:
            self.on_watch(0.0)

    def update(self, pid: int, report: SessionsReport) -> None:
        """Process ``pid``'s sessions now (a report that comes when nobody watches is late:
        ignored)."""
        if not self.watching:
            return
        before = self._by_pid.get(pid, {})
        now: dict[str, RemoteSession] = {}
        for sample in report.sessions:
            page_id = f"{pid}-{sample.id}"
            old = before.get(page_id)
            if old is not None and sample.graph_spec is None and sample.graph_dot is None:
                spec, dot = old.spec, old.dot  # the graph came in an earlier report
            else:
                spec, dot = sample.graph_spec, sample.graph_dot
            now[page_id] = RemoteSession(page_id, pid, report.job_id, report.room, sample,
                                         spec, dot)
        for gone in before.keys() - now.keys():
            self._svgs.pop(gone, None)
        self._by_pid[pid] = now
        self._reported.add(pid)
        self._note_reports()

    def drop(self, pid: int) -> None:
        """Process ``pid`` exited: its sessions are gone."""
        for page_id in self._by_pid.pop(pid, {}):
            self._svgs.pop(page_id, None)
        self._reported.add(pid)  # it will not report: nothing to wait for
        self._note_reports()

    def sessions(self) -> list[RemoteSession]:
        """Every job process's sessions, by process then as reported."""
        return [s for by_id in self._by_pid.values() for s in by_id.values()]

    def find(self, page_id: str) -> RemoteSession | None:
        for by_id in self._by_pid.values():
            if page_id in by_id:
                return by_id[page_id]
        return None

    async def graph_svg(self, page_id: str) -> str | None:
        """The session's graph as SVG (laid out once, off the loop), None if not known."""
        svg = self._svgs.get(page_id)
        if svg is not None:
            return svg
        session = self.find(page_id)
        if session is None or (session.spec is None and session.dot is None):
            return None
        svg = await asyncio.to_thread(_draw, session.spec, session.dot)
        if svg is not None and self.find(page_id) is not None:  # still running: keep it
            self._svgs[page_id] = svg
        return svg

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _draw(spec: str | None, dot: str | None) -> str | None:
    """SVG of a graph spec or of DOT text; None when the spec names what cannot be imported
    here (a node class only the job process has)."""
    from flowagents.graph.render import dot_to_svg, to_svg
    from flowagents.graph.spec import graph_from_json

    if spec is not None:
        try:
            return to_svg(graph_from_json(spec))
        except Exception:
            logger.warning("cannot draw a job's session graph from its spec", exc_info=True)
            return None
    return None if dot is None else dot_to_svg(dot)
