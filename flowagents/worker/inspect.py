"""The live graph view: a page listing the running sessions, each with its voice graph's SVG and
per node the values per second, the last value and the time spent, updating live.

The worker's HTTP server serves it at ``/inspect`` (beside health and metrics), and the console
serves it with ``--inspect``. Plain HTML, the graph's own SVG (drawn from the structure that
runs) and a little JavaScript polling ``/inspect/sessions.json``. It shows the sessions of this
process (the console's; sessions show up once inspection is on:
:data:`flowagents.session.inspect.INSPECTOR`) and, on a worker, those its job processes report
(:class:`~flowagents.worker.inspect_board.InspectBoard`: they report only while the page is
polled).
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

from aiohttp import web

from flowagents.graph.render import to_svg
from flowagents.session.inspect import INSPECTOR

from .inspect_board import InspectBoard

__all__ = ["InspectServer", "add_inspect_routes", "sessions_json"]


def sessions_json(board: InspectBoard | None = None) -> list[dict[str, Any]]:
    """What the page polls: each session's states and per-node counters, this process's first,
    then the job processes' (from ``board``)."""
    pid = os.getpid()
    rows = [{"id": w.id, "pid": pid, "job_id": "", "room": _room(w.session),
             "agent_state": w.session.agent_state, "user_state": w.session.user_state,
             "nodes": w.stats.snapshot()}
            for w in INSPECTOR.sessions()]
    if board is not None:
        rows += [s.row() for s in board.sessions()]
    return rows


def _room(session: Any) -> str:
    """The name of the room a session was started in, if any."""
    room = (getattr(session, "_started_on", None) or (None,))[0]
    return str(getattr(room, "name", "") or "")


class _Routes:
    """The page's handlers; every request tells ``board`` that someone watches."""

    def __init__(self, board: InspectBoard | None) -> None:
        self.board = board

    def _watched(self) -> None:
        if self.board is not None:
            self.board.touch()

    async def page(self, _req: web.Request) -> web.Response:
        self._watched()
        html = resources.files("flowagents.worker").joinpath("static/inspect.html").read_text()
        return web.Response(text=html, content_type="text/html")

    async def sessions(self, _req: web.Request) -> web.Response:
        self._watched()
        if self.board is not None:
            await self.board.ready()  # a watch that starts now: the processes' first reports
        return web.json_response(sessions_json(self.board))

    async def graph(self, req: web.Request) -> web.Response:
        self._watched()
        page_id = req.match_info["id"]
        for w in INSPECTOR.sessions():
            if w.id == page_id:
                return web.Response(text=to_svg(w.session.runtime.graph),
                                    content_type="image/svg+xml")
        svg = None if self.board is None else await self.board.graph_svg(page_id)
        if svg is None:
            raise web.HTTPNotFound(text="no such running session")
        return web.Response(text=svg, content_type="image/svg+xml")


def add_inspect_routes(app: web.Application, board: InspectBoard | None = None) -> None:
    """Serve the page at ``/inspect`` (and turn inspection on for sessions started after);
    with ``board``, the sessions of the worker's job processes too."""
    INSPECTOR.enable()
    routes = _Routes(board)
    app.router.add_get("/inspect", routes.page)
    app.router.add_get("/inspect/sessions.json", routes.sessions)
    app.router.add_get("/inspect/sessions/{id}/graph.svg", routes.graph)


class InspectServer:
    """The page alone, on ``host:port`` (port 0 picks a free one): the console's ``--inspect``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8082) -> None:
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        add_inspect_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/inspect"

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
