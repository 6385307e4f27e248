"""What the local provider servers share: serving on the running loop, faults, and the record.

A :class:`LocalServer` serves its routes on 127.0.0.1 (a free port) with aiohttp's handler
cancellation on, so a handler learns at once that its client went away; ``watch_close()``
records that moment (the loop's time) in ``closed_at``. ``seen`` lists what the server
received, in order. A :class:`Fault` scripts a failure for one request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Fault", "LocalServer"]


@dataclass
class Fault:
    """One scripted failure. A ``status`` other than 200 answers that status with ``body`` (JSON)
    and ``headers`` after ``delay`` seconds. With 200, the normal payload is sent after ``delay``
    in pieces of ``chunk`` bytes, and the connection is dropped after ``disconnect_after`` bytes
    or left silent after ``hang_after`` bytes. ``payload`` replaces the normal one, sent as
    ``content_type``."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk: int | None = None
    disconnect_after: int | None = None
    hang_after: int | None = None
    payload: bytes | None = None
    content_type: str = "application/octet-stream"

    async def respond(self, request: web.Request, payload: bytes = b"",
                      server: LocalServer | None = None) -> web.StreamResponse:
        watch = server.watch_close() if server is not None else _nothing()
        with watch:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.status != 200:
                body = self.body if self.body is not None else {"error": {"message": "scripted"}}
                return web.Response(status=self.status, text=json.dumps(body),
                                    content_type="application/json", headers=self.headers)
            payload = self.payload if self.payload is not None else payload
            resp = web.StreamResponse(headers={"Content-Type": self.content_type})
            await resp.prepare(request)
            size = self.chunk or len(payload) or 1
            cut = len(payload)
            if self.disconnect_after is not None:
                cut = min(cut, self.disconnect_after)
            if self.hang_after is not None:
                cut = min(cut, self.hang_after)
            for i in range(0, cut, size):
                await resp.write(payload[i:min(i + size, cut)])
                await asyncio.sleep(0.001)
            if self.disconnect_after is not None and cut < len(payload):
                LocalServer.drop(request)
                return resp
            if self.hang_after is not None and cut < len(payload):
                await asyncio.Event().wait()
        await resp.write_eof()
        return resp


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class LocalServer:
    """Base of the provider servers (see the module docstring)."""

    provider = "local"

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.url = ""
        self.seen: list[tuple[str, Any, dict[str, str]]] = []
        self.times: list[float] = []  # the loop time of each entry of ``seen``
        self.closed_at: list[float] = []
        self._runner: web.AppRunner | None = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return self.url

    async def start(self) -> str:
        """Serve on the running loop; returns the base URL to give the provider."""
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.base_url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def record(self, kind: str, body: Any, headers: Any) -> None:
        self.seen.append((kind, body, dict(headers)))
        self.times.append(asyncio.get_running_loop().time())

    def requests(self, kind: str) -> list[Any]:
        return [body for k, body, _ in self.seen if k == kind]

    @contextmanager
    def watch_close(self) -> Iterator[None]:
        """Record in ``closed_at`` when the client goes away inside the block."""
        try:
            yield
        except (asyncio.CancelledError, ConnectionResetError):
            self.closed_at.append(asyncio.get_running_loop().time())
            raise

    @staticmethod
    def drop(request: web.Request) -> None:
        """Cut the connection mid-reply (no end of the chunked body)."""
        if request.transport is not None:
            request.transport.close()
