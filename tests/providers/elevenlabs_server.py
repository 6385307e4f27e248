"""A local server that speaks ElevenLabs' stream-input WebSocket.

``/v1/text-to-speech/{voice_id}/stream-input?model_id=...&output_format=pcm_<rate>``: the first
message opens the stream (``text: " "`` with ``voice_settings``); each later text is voiced at
once as 0.1 s of tone per word, sent as ``{"audio": <base64>, "isFinal": false,
"normalizedAlignment": ...}`` messages cut into ``chunk_bytes`` pieces (odd, so samples straddle
messages); ``{"text": ""}`` ends the stream: ``{"isFinal": true}`` and a close. ``texts`` keeps
each connection's messages; ``closed_at`` the times a client went away before the end.
:class:`StreamFault` breaks a connection; a :class:`~providers.base.Fault` refuses or delays
the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .base import Fault, LocalServer
from .cartesia_server import words_pcm

__all__ = ["ElevenLabsServer", "Fault", "StreamFault"]


@dataclass
class StreamFault:
    """After ``after`` messages: drop the connection, send a non-JSON frame, send an error
    message (``error``: its code, e.g. ``"invalid_api_key"``), or go silent (``hang``)."""

    after: int = 1
    drop: bool = False
    malformed: bool = False
    error: str | None = None
    hang: bool = False


class ElevenLabsServer(LocalServer):
    provider = "elevenlabs"

    def __init__(self, api_key: str = "xi-test-key-0123", *, chunk_bytes: int = 1001,
                 interval: float = 0.01) -> None:
        super().__init__(api_key)
        self.chunk_bytes = chunk_bytes
        self.interval = interval
        self.handshakes: deque[Fault] = deque()
        self.stream_faults: deque[StreamFault | None] = deque()
        self.texts: list[list[dict[str, Any]]] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/text-to-speech/{voice_id}/stream-input", self._socket)]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        self.record("stream-input", {**dict(request.query),
                                     "voice_id": request.match_info["voice_id"]},
                    request.headers)
        fault = self.handshakes.popleft() if self.handshakes else None
        if fault is not None:
            return await fault.respond(request, server=self)
        if request.headers.get("xi-api-key") != self.api_key:
            return web.json_response({"detail": {"status": "invalid_api_key",
                                                 "message": "Invalid API key"}}, status=401)
        rate = int(request.query.get("output_format", "pcm_24000").removeprefix("pcm_"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        stream_fault = self.stream_faults.popleft() if self.stream_faults else None
        messages: list[dict[str, Any]] = []
        self.texts.append(messages)
        sent = 0
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        finished = False  # the stream ended as the protocol says (or a fault ended it)

        async def send(message: dict[str, Any]) -> bool:
            nonlocal sent, stream_fault, finished
            fault = stream_fault
            if fault is not None and sent >= fault.after:
                stream_fault = None
                finished = not fault.hang
                if fault.drop:
                    LocalServer.drop(request)
                    return False
                if fault.malformed:
                    await ws.send_str('{"audio": "AAA')
                if fault.error is not None:
                    await ws.send_str(json.dumps({"message": "scripted failure",
                                                  "error": fault.error, "code": 1008}))
                    await ws.close(code=1008)
                    return False
                if fault.hang:
                    await asyncio.Event().wait()
            sent += 1
            await ws.send_str(json.dumps(message))
            if self.interval:
                await asyncio.sleep(self.interval)
            return True

        async def synthesize() -> None:
            while (text := await queue.get()) is not None:
                pcm = words_pcm(text, rate)
                for i in range(0, len(pcm), self.chunk_bytes):
                    data = base64.b64encode(pcm[i:i + self.chunk_bytes]).decode()
                    if not await send({"audio": data, "isFinal": False,
                                       "normalizedAlignment": None, "alignment": None}):
                        return
            nonlocal finished
            if await send({"isFinal": True}):
                finished = True
                await ws.close()

        worker = loop.create_task(synthesize())
        try:
            with self.watch_close():
                async for msg in ws:
                    if msg.type != WSMsgType.TEXT:
                        continue
                    message = json.loads(msg.data)
                    messages.append(message)
                    text = str(message.get("text", ""))
                    if len(messages) == 1:
                        continue  # the opening message
                    queue.put_nowait(text if text else None)
                if not finished:
                    self.closed_at.append(loop.time())
        finally:
            worker.cancel()
        return ws
