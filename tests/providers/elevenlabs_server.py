"""A local server that speaks ElevenLabs' multi-context WebSocket (``multi-stream-input``).

``/v1/text-to-speech/{voice_id}/multi-stream-input?model_id=...&output_format=pcm_<rate>`` carries
contexts, each named by the ``context_id`` of the messages for it. A message for a context not
open opens one (at most five open per socket, else a ``max_active_conversations`` error closes
the socket); its text is buffered and voiced when the buffer reaches the next length of the
context's ``chunk_length_schedule`` or on ``flush: true``, as 0.1 s of tone per word, sent as
``{"audio": <base64>, "contextId": ...}`` messages cut into ``chunk_bytes`` pieces (odd, so
samples straddle messages). ``close_context: true`` on a flushed context lets it finish; on one
with text not flushed it drops that text and stops generating at once (after ``linger`` more
audio messages, the ones in flight), and either way ends with ``{"isFinal": true, "contextId":
...}`` (``context_key`` and ``final_key`` choose the spelling; with ``final_on_stop`` off a
stopped context ends without it); a context counts against the limit until then. ``text: ""``
alone keeps a context alive; ``close_socket: true`` finishes the flushed contexts, stops the
others and closes.
A socket with no client message for ``inactivity_timeout`` seconds (query, 20 by default) gets
an ``input_timeout_exceeded`` error and is closed. The record: ``sockets`` (each connection's
messages), ``contexts`` (each context's text pieces), ``events`` (``(time, what, context)``),
``audio_bytes`` (per context) and ``closed_at`` (when a client went away with a context
unfinished). :class:`StreamFault` breaks a connection; a :class:`~providers.base.Fault` refuses
or delays the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .base import Fault, LocalServer
from .cartesia_server import words_pcm

__all__ = ["ElevenLabsServer", "Fault", "StreamFault"]

MAX_CONTEXTS = 5
DEFAULT_SCHEDULE = (120, 160, 250, 290)


@dataclass
class StreamFault:
    """After ``after`` messages sent on the connection: drop it, send a non-JSON frame, send an
    error message (``error``: its code, e.g. ``"invalid_api_key"``) that names no context and
    closes the socket, or with ``in_context`` names the context and ends only that one, or go
    silent (``hang``)."""

    after: int = 1
    drop: bool = False
    malformed: bool = False
    error: str | None = None
    in_context: bool = False
    hang: bool = False


@dataclass
class _Context:
    """One context of a connection: text not voiced yet, and the pieces queued to voice."""

    schedule: tuple[int, ...]
    buffer: str = ""
    voiced: int = 0  # generations so far (the index into the schedule)
    flushed: bool = False
    closed: bool = False
    stopped: bool = False
    final: bool = False
    gone: bool = False  # stopped, and no final message will come
    pieces: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def take(self) -> None:
        """Queue the buffered text for voicing."""
        if self.buffer:
            self.pieces.put_nowait(self.buffer)
            self.buffer = ""
            self.voiced += 1

    def due(self) -> bool:
        return len(self.buffer) >= self.schedule[min(self.voiced, len(self.schedule) - 1)]


class ElevenLabsServer(LocalServer):
    provider = "elevenlabs"

    def __init__(self, api_key: str = "xi-test-key-0123", *, chunk_bytes: int = 1001,
                 interval: float = 0.01, linger: int = 0, context_key: str = "contextId",
                 final_key: str = "isFinal", final_on_stop: bool = True) -> None:
        super().__init__(api_key)
        self.chunk_bytes = chunk_bytes
        self.interval = interval
        self.linger = linger
        self.context_key = context_key
        self.final_key = final_key
        self.final_on_stop = final_on_stop
        self.most_open = 0  # the most contexts open at once on one socket
        self.handshakes: deque[Fault] = deque()
        self.stream_faults: deque[StreamFault | None] = deque()
        self.sockets: list[list[dict[str, Any]]] = []
        self.contexts: dict[str, list[str]] = {}
        self.events: list[tuple[float, str, str]] = []
        self.audio_bytes: defaultdict[str, int] = defaultdict(int)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/text-to-speech/{voice_id}/multi-stream-input", self._socket)]

    def event(self, what: str, context: str = "") -> None:
        self.events.append((asyncio.get_running_loop().time(), what, context))

    def happened(self, what: str) -> list[tuple[float, str]]:
        """``(time, context)`` of each event ``what``."""
        return [(t, c) for t, w, c in self.events if w == what]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        self.record("multi-stream-input", {**dict(request.query),
                                           "voice_id": request.match_info["voice_id"]},
                    request.headers)
        fault = self.handshakes.popleft() if self.handshakes else None
        if fault is not None:
            return await fault.respond(request, server=self)
        if request.headers.get("xi-api-key") != self.api_key:
            return web.json_response({"detail": {"status": "invalid_api_key",
                                                 "message": "Invalid API key"}}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = _Connection(self, request, ws)
        await connection.serve()
        return ws


class _Connection:
    """One client's socket: its contexts, their generation tasks, and the scripted fault."""

    def __init__(self, server: ElevenLabsServer, request: web.Request,
                 ws: web.WebSocketResponse) -> None:
        self.server = server
        self.request = request
        self.ws = ws
        self.rate = int(request.query.get("output_format", "pcm_24000").removeprefix("pcm_"))
        self.timeout = float(request.query.get("inactivity_timeout", "20"))
        self.fault = server.stream_faults.popleft() if server.stream_faults else None
        self.messages: list[dict[str, Any]] = []
        server.sockets.append(self.messages)
        self.contexts: dict[str, _Context] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.lock = asyncio.Lock()
        self.ended = False  # the server ended the connection (a fault, an error, a goodbye)

    async def send(self, message: dict[str, Any]) -> bool:
        """Send one message (or play the fault); False once the connection is over."""
        if self.ended:
            return False
        fault = self.fault
        if fault is not None and self.sent >= fault.after:
            self.fault = None
            if fault.drop:
                self.ended = True
                LocalServer.drop(self.request)
                return False
            if fault.malformed:
                await self.ws.send_str('{"audio": "AAA')
            if fault.error is not None and fault.in_context:
                context_id = message.get(self.server.context_key)
                self.contexts[str(context_id)].gone = True
                self.server.event(fault.error, str(context_id))
                await self.ws.send_str(json.dumps({"message": "scripted failure",
                                                   "error": fault.error,
                                                   self.server.context_key: context_id}))
                return False
            if fault.error is not None:
                await self.fail(fault.error, "scripted failure")
                return False
            if fault.hang:
                await asyncio.Event().wait()
        self.sent += 1
        async with self.lock:
            await self.ws.send_str(json.dumps(message))
        return True

    async def fail(self, code: str, text: str) -> None:
        """An error message naming no context, then a policy-violation close."""
        self.ended = True
        self.server.event(code)
        await self.ws.send_str(json.dumps({"message": text, "error": code, "code": 1008}))
        await self.ws.close(code=1008)

    async def generate(self, context_id: str, ctx: _Context) -> None:
        server, lingered = self.server, 0
        while (text := await ctx.pieces.get()) is not None:
            pcm = words_pcm(text, self.rate)
            for i in range(0, len(pcm), server.chunk_bytes):
                if ctx.stopped:
                    if lingered >= server.linger:
                        break
                    lingered += 1
                piece = pcm[i:i + server.chunk_bytes]
                if not await self.send({"audio": base64.b64encode(piece).decode(),
                                        "normalizedAlignment": None, "alignment": None,
                                        server.context_key: context_id}):
                    return
                server.audio_bytes[context_id] += len(piece)
                if server.interval:
                    await asyncio.sleep(server.interval)
            if ctx.stopped:
                break
        if ctx.stopped and not server.final_on_stop:
            ctx.gone = True
            return
        if await self.send({server.final_key: True, server.context_key: context_id}):
            ctx.final = True
            server.event("final", context_id)

    async def farewell(self, tasks: list[asyncio.Task[None]]) -> None:
        """After ``close_socket``: the contexts finish (reading goes on), then the close."""
        await asyncio.gather(*tasks)
        self.ended = True
        await self.ws.close()

    def close(self, context_id: str, ctx: _Context) -> None:
        """Close a context: a flushed one finishes, one with text not flushed stops at once."""
        ctx.closed = True
        if not ctx.flushed:
            ctx.stopped = True
            ctx.buffer = ""
            while not ctx.pieces.empty():
                ctx.pieces.get_nowait()
            self.server.event("stopped", context_id)
        ctx.pieces.put_nowait(None)

    def open_count(self) -> int:
        """The contexts that count against the limit: all until their final message."""
        return sum(not (c.final or c.gone) for c in self.contexts.values())

    async def open(self, context_id: str, message: dict[str, Any]) -> _Context | None:
        if self.open_count() >= MAX_CONTEXTS:
            await self.fail("max_active_conversations",
                            f"Maximum simultaneous contexts per WebSocket connection exceeded "
                            f"({MAX_CONTEXTS}).")
            return None
        config = message.get("generation_config") or {}
        ctx = _Context(tuple(config.get("chunk_length_schedule") or DEFAULT_SCHEDULE))
        self.contexts[context_id] = ctx
        self.server.most_open = max(self.server.most_open, self.open_count())
        self.server.event("open", context_id)
        self.tasks.append(asyncio.get_running_loop().create_task(
            self.generate(context_id, ctx)))
        return ctx

    async def handle(self, message: dict[str, Any]) -> None:
        server = self.server
        if message.get("close_socket"):
            server.event("close_socket")
            for context_id, ctx in self.contexts.items():
                if not ctx.closed:
                    self.close(context_id, ctx)
            farewell = self.farewell(list(self.tasks))
            self.tasks.append(asyncio.get_running_loop().create_task(farewell))
            return
        context_id = str(message.get("context_id", "default"))
        ctx = self.contexts.get(context_id)
        if message.get("close_context"):
            server.event("close_context", context_id)
            if ctx is not None and not ctx.closed:
                self.close(context_id, ctx)
            return
        if ctx is None or ctx.closed:  # a new context, or a closed id used again
            ctx = await self.open(context_id, message)
            if ctx is None:
                return
            if message.get("text") == " ":
                return
        text = str(message.get("text", ""))
        if text:
            server.contexts.setdefault(context_id, []).append(text)
            ctx.buffer += text
            ctx.flushed = False
            if ctx.due():
                ctx.take()
        elif not message.get("flush"):
            server.event("keep_alive", context_id)
        if message.get("flush"):
            server.event("flush", context_id)
            ctx.take()
            ctx.flushed = True

    def went_away(self) -> None:
        """The client left: record when, if it left a context unfinished."""
        if not self.ended and self.open_count():
            self.server.closed_at.append(asyncio.get_running_loop().time())

    async def serve(self) -> None:
        try:
            while not self.ended:
                try:
                    msg = await self.ws.receive(timeout=self.timeout)
                except TimeoutError:
                    await self.fail("input_timeout_exceeded",
                                    f"Have not received a new text input within the "
                                    f"timeout of {self.timeout:g} seconds.")
                    break
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                WSMsgType.ERROR):
                    break
                if msg.type != WSMsgType.TEXT:
                    continue
                message = json.loads(msg.data)
                self.messages.append(message)
                await self.handle(message)
        except (asyncio.CancelledError, ConnectionResetError):
            self.went_away()
            raise
        else:
            self.went_away()
        finally:
            for task in self.tasks:
                task.cancel()
