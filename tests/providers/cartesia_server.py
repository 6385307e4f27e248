"""A local server that speaks Cartesia's TTS WebSocket (``/tts/websocket``) with contexts.

Each generation request is voiced at once as a tone of 0.1 s per word of its ``transcript``,
sent as ``chunk`` messages of base64 PCM cut into ``chunk_bytes`` pieces (odd by default, so
samples straddle messages); a context gets ``done`` when a request with ``continue: false``
has been voiced. ``{"context_id", "cancel": true}`` stops a context (recorded in
``cancelled``). ``contexts`` keeps each context's transcript pieces, ``closed_at`` the times a
client went away. :class:`StreamFault` breaks a connection after some messages; a
:class:`~providers.base.Fault` refuses or delays the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from aiohttp import WSMsgType, web

from .base import Fault, LocalServer

__all__ = ["CartesiaServer", "Fault", "StreamFault", "words_pcm"]


@dataclass
class StreamFault:
    """After ``after`` messages: drop the connection, send a non-JSON frame, send an ``error``
    message with ``status``, or go silent (``hang``)."""

    after: int = 1
    drop: bool = False
    malformed: bool = False
    status: int | None = None
    hang: bool = False


def words_pcm(text: str, sample_rate: int) -> bytes:
    """0.1 s of 440 Hz per word (nothing for no words), 16-bit little-endian."""
    n = round(0.1 * sample_rate) * len(text.split())
    t = np.arange(n) / sample_rate
    return (np.sin(2 * math.pi * 440.0 * t) * 8000).astype("<i2").tobytes()


class CartesiaServer(LocalServer):
    provider = "cartesia"

    def __init__(self, api_key: str = "sk_car_test_0123", *, chunk_bytes: int = 1001,
                 interval: float = 0.01) -> None:
        super().__init__(api_key)
        self.chunk_bytes = chunk_bytes
        self.interval = interval
        self.handshakes: deque[Fault] = deque()
        self.stream_faults: deque[StreamFault | None] = deque()
        self.contexts: dict[str, list[str]] = {}
        self.cancelled: list[tuple[str, float]] = []
        self.requests_seen: list[dict[str, object]] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/tts/websocket", self._socket)]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        self.record("websocket", dict(request.query), request.headers)
        fault = self.handshakes.popleft() if self.handshakes else None
        if fault is not None:
            return await fault.respond(request, server=self)
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response({"error": "Invalid API key"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        stream_fault = self.stream_faults.popleft() if self.stream_faults else None
        sent = 0
        loop = asyncio.get_running_loop()

        async def send(message: dict[str, object]) -> bool:
            nonlocal sent, stream_fault
            fault = stream_fault
            if fault is not None and sent >= fault.after:
                stream_fault = None
                if fault.drop:
                    LocalServer.drop(request)
                    return False
                if fault.malformed:
                    await ws.send_str('{"type": "chunk", "data": "AAA')
                if fault.status is not None:
                    await ws.send_str(json.dumps({
                        "type": "error", "done": True, "status_code": fault.status,
                        "error": "Invalid model", "context_id": message.get("context_id")}))
                    return False
                if fault.hang:
                    await asyncio.Event().wait()
            sent += 1
            await ws.send_str(json.dumps(message))
            if self.interval:
                await asyncio.sleep(self.interval)
            return True

        requests: asyncio.Queue[dict[str, object]] = asyncio.Queue()

        async def synthesize() -> None:
            while True:
                req = await requests.get()
                context = str(req.get("context_id"))
                rate = int(req["output_format"]["sample_rate"])  # type: ignore[index]
                pcm = words_pcm(str(req.get("transcript", "")), rate)
                for i in range(0, len(pcm), self.chunk_bytes):
                    if any(c == context for c, _ in self.cancelled):
                        break
                    data = base64.b64encode(pcm[i:i + self.chunk_bytes]).decode()
                    if not await send({"type": "chunk", "data": data, "done": False,
                                       "status_code": 206, "context_id": context}):
                        return
                if any(c == context for c, _ in self.cancelled):
                    continue
                if not req.get("continue") and not await send(
                        {"type": "done", "done": True, "status_code": 206,
                         "context_id": context}):
                    return

        worker = loop.create_task(synthesize())
        try:
            with self.watch_close():
                # read while the worker sends: a cancel or a close is seen at once
                async for msg in ws:
                    if msg.type != WSMsgType.TEXT:
                        continue
                    req = json.loads(msg.data)
                    self.requests_seen.append(req)
                    context = str(req.get("context_id"))
                    if req.get("cancel"):
                        self.cancelled.append((context, loop.time()))
                        continue
                    self.contexts.setdefault(context, []).append(str(req.get("transcript", "")))
                    requests.put_nowait(req)
                if not worker.done():
                    self.closed_at.append(loop.time())
        finally:
            worker.cancel()
        return ws
