"""The live graph view: a page listing the running sessions, each with its voice graph's SVG and
per node the values per second, the last value and the time spent, updating live.

The worker's HTTP server serves it at ``/inspect`` (beside health and metrics), and the console
serves it with ``--inspect``. Plain HTML, the graph's own SVG (drawn from the structure that
runs) and a little JavaScript polling ``/inspect/sessions.json``. Sessions show up once
inspection is on (:data:`flowagents.session.inspect.INSPECTOR`); it costs nothing otherwise.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from flowagents.graph.render import to_svg
from flowagents.session.inspect import INSPECTOR

__all__ = ["InspectServer", "add_inspect_routes", "sessions_json"]


def sessions_json() -> list[dict[str, Any]]:
    """What the page polls: each watched session's states and per-node counters."""
    return [{"id": w.id, "agent_state": w.session.agent_state,
             "user_state": w.session.user_state, "nodes": w.stats.snapshot()}
            for w in INSPECTOR.sessions()]


async def _page(_req: web.Request) -> web.Response:
    html = resources.files("flowagents.worker").joinpath("static/inspect.html").read_text()
    return web.Response(text=html, content_type="text/html")


async def _sessions(_req: web.Request) -> web.Response:
    return web.json_response(sessions_json())


async def _graph(req: web.Request) -> web.Response:
    for w in INSPECTOR.sessions():
        if w.id == req.match_info["id"]:
            return web.Response(text=to_svg(w.session.runtime.graph),
                                content_type="image/svg+xml")
    raise web.HTTPNotFound(text="no such running session")


def add_inspect_routes(app: web.Application) -> None:
    """Serve the page at ``/inspect`` (and turn inspection on for sessions started after)."""
    INSPECTOR.enable()
    app.router.add_get("/inspect", _page)
    app.router.add_get("/inspect/sessions.json", _sessions)
    app.router.add_get("/inspect/sessions/{id}/graph.svg", _graph)


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
