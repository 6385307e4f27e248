"""The worker's HTTP server: ``/`` health, ``/worker`` state as JSON, ``/metrics`` for Prometheus,
``/inspect`` the live graph view (:mod:`flowagents.worker.inspect`).

Load balancers and orchestrators probe ``/`` (200 healthy, 503 not: for example after the worker
gave up reconnecting); ``/worker`` is for humans and dashboards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .inspect import add_inspect_routes
from .inspect_board import InspectBoard

__all__ = ["HealthServer", "HealthServerError"]


class HealthServerError(RuntimeError):
    """The health server could not listen (say the port is taken by another worker)."""


class HealthServer:
    """aiohttp server bound to ``host:port`` (port 0 picks a free one; see :attr:`port`)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        healthy: Callable[[], bool],
        state: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes],
        inspect: InspectBoard | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._healthy = healthy
        self._state = state
        self._metrics = metrics
        self._inspect = inspect
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_get("/worker", self._worker)
        app.router.add_get("/metrics", self._metrics_handler)
        add_inspect_routes(app, self._inspect)  # the live graph view: this process's sessions
        # and those the job processes report
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host = self._host or "0.0.0.0"
        site = web.TCPSite(self._runner, host, self._port)
        try:
            await site.start()
        except OSError as e:
            await self.aclose()
            raise HealthServerError(
                f"cannot serve health and metrics on {host}:{self._port}: "
                f"{e.strerror or e} (choose another --port)") from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _root(self, _req: web.Request) -> web.Response:
        if self._healthy():
            return web.Response(text="OK")
        return web.Response(status=503, text="unhealthy")

    async def _worker(self, _req: web.Request) -> web.Response:
        return web.json_response(self._state())

    async def _metrics_handler(self, _req: web.Request) -> web.Response:
        return web.Response(body=self._metrics(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})
