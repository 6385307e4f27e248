"""A local server that speaks the OpenAI Realtime WebSocket protocol (``/v1/realtime``).

Its VAD hears loud audio as speech: ``input_audio_buffer.speech_started`` when it starts,
``speech_stopped`` after ``silence`` seconds of quiet, then the buffer is committed (a user item;
with ``turn_detection: null`` the client commits it) and its transcription completes with the next
scripted ``transcripts`` (else "hello"). ``response.create`` is answered with the next scripted
reply text (else "You said: <last transcript>"): ``response.created``, an assistant item, then per
word 0.1 s of tone (``response.audio.delta``, base64 cut into ``chunk_bytes`` pieces) and its
transcript delta, ``interval`` seconds apart, and ``response.done`` with the usage.
``response.cancel`` stops the response (``response.done`` with status ``cancelled``);
``conversation.item.truncate`` is recorded in ``truncations`` as ``(item_id, audio_end_ms, time)``.
A scripted reply ``(name, arguments)`` is a tool call instead: a ``function_call`` item whose
arguments stream in 3-character deltas, then ``response.function_call_arguments.done``. ``events``
keeps every client event but the audio appends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import deque
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from .base import Fault, LocalServer
from .cartesia_server import words_pcm

__all__ = ["Fault", "RealtimeServer"]


class RealtimeServer(LocalServer):
    provider = "openai-realtime"

    def __init__(self, api_key: str = "sk-test-0123456789", *, silence: float = 0.3,
                 interval: float = 0.05, chunk_bytes: int = 1201, threshold: int = 500) -> None:
        super().__init__(api_key)
        self.silence = silence
        self.interval = interval
        self.chunk_bytes = chunk_bytes
        self.threshold = threshold
        self.transcripts: deque[str] = deque()
        self.replies: deque[str | tuple[str, str]] = deque()  # text, or a call (name, args)
        self.handshakes: deque[Fault] = deque()
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.truncations: list[tuple[str, int, float]] = []
        self.cancels: list[float] = []
        self.audio_seconds = 0.0
        self.malformed = False  # answer response.create with a frame that is not JSON

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/realtime", self._socket)]

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def kinds(self) -> list[str]:
        return [e["type"] for _, e in self.events]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        self.record("realtime", dict(request.query), request.headers)
        fault = self.handshakes.popleft() if self.handshakes else None
        if fault is not None:
            return await fault.respond(request, server=self)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Incorrect API key provided.",
                                                "code": "invalid_api_key"}}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conversation = _Conversation(self, ws)
        await conversation.send({"type": "session.created", "session": {"id": "sess_1"}})
        with self.watch_close():
            try:
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT:
                        await conversation.handle(json.loads(msg.data))
                self.closed_at.append(asyncio.get_running_loop().time())
            finally:
                conversation.stop()
        return ws


class _Conversation:
    def __init__(self, server: RealtimeServer, ws: web.WebSocketResponse) -> None:
        self.server, self.ws = server, ws
        self.heard = 0.0
        self.speech_start: float | None = None
        self.last_loud = 0.0
        self.user_item = ""
        self.last_transcript = ""
        self.response: asyncio.Task[None] | None = None
        self.cancelled = False
        self.server_vad = True  # off when session.update sets turn_detection to null

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", f"event_{uuid.uuid4().hex[:8]}")
        await self.ws.send_str(json.dumps(event))

    def stop(self) -> None:
        if self.response is not None:
            self.response.cancel()

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        loop = asyncio.get_running_loop()
        if kind != "input_audio_buffer.append":
            self.server.events.append((loop.time(), event))
        if kind == "session.update":
            self.server_vad = event["session"].get("turn_detection") is not None
            await self.send({"type": "session.updated", "session": event["session"]})
        elif kind == "input_audio_buffer.commit":
            if not self.user_item:
                self.user_item = f"item_{uuid.uuid4().hex[:8]}"
            await self.commit()
        elif kind == "input_audio_buffer.append":
            await self.audio(base64.b64decode(event["audio"]))
        elif kind == "conversation.item.create":
            await self.send({"type": "conversation.item.created", "item": event["item"]})
        elif kind == "response.create":
            self.cancelled = False
            self.response = loop.create_task(self.respond())
        elif kind == "response.cancel":
            self.server.cancels.append(loop.time())
            if self.response is not None and not self.response.done():
                self.cancelled = True
            else:
                await self.send({"type": "error", "error": {
                    "type": "invalid_request_error", "code": "response_cancel_not_active",
                    "message": "no active response"}})
        elif kind == "conversation.item.truncate":
            self.server.truncations.append((event["item_id"], event["audio_end_ms"],
                                            loop.time()))
            await self.send({"type": "conversation.item.truncated", "item_id": event["item_id"],
                             "content_index": 0, "audio_end_ms": event["audio_end_ms"]})

    async def audio(self, data: bytes) -> None:
        pcm = np.frombuffer(data, dtype="<i2")
        start, self.heard = self.heard, self.heard + len(pcm) / 24000
        self.server.audio_seconds = self.heard
        if not self.server_vad:
            return
        loud = bool(len(pcm)) and int(np.abs(pcm.astype(np.int32)).max()) > self.server.threshold
        if loud:
            self.last_loud = self.heard
            if self.speech_start is None:
                self.speech_start = start
                self.user_item = f"item_{uuid.uuid4().hex[:8]}"
                await self.send({"type": "input_audio_buffer.speech_started",
                                 "audio_start_ms": round(start * 1000), "item_id": self.user_item})
        elif self.speech_start is not None and self.heard - self.last_loud >= self.server.silence:
            self.speech_start = None
            item = self.user_item
            await self.send({"type": "input_audio_buffer.speech_stopped",
                             "audio_end_ms": round(self.heard * 1000), "item_id": item})
            await self.commit()

    async def commit(self) -> None:
        """The buffer becomes a user item, transcribed with the next scripted transcript."""
        item, self.user_item = self.user_item, ""
        await self.send({"type": "input_audio_buffer.committed", "item_id": item})
        await self.send({"type": "conversation.item.created", "item": {
            "id": item, "type": "message", "role": "user",
            "content": [{"type": "input_audio", "transcript": None}]}})
        text = self.server.transcripts.popleft() if self.server.transcripts else "hello"
        self.last_transcript = text
        await self.send({"type": "conversation.item.input_audio_transcription.completed",
                         "item_id": item, "content_index": 0, "transcript": text})

    async def respond(self) -> None:
        server = self.server
        rid, item = f"resp_{uuid.uuid4().hex[:8]}", f"item_{uuid.uuid4().hex[:8]}"
        script = server.replies.popleft() if server.replies else None
        text = script if isinstance(script, str) else f"You said: {self.last_transcript}"
        if server.malformed:
            await self.ws.send_str('{"type": "response.audio.del')
            return
        await self.send({"type": "response.created", "response": {"id": rid,
                                                                  "status": "in_progress"}})
        if isinstance(script, tuple):
            await self.call(rid, item, *script)
            return
        await self.send({"type": "response.output_item.added", "response_id": rid,
                         "output_index": 0, "item": {"id": item, "type": "message",
                                                     "role": "assistant"}})
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word + (" " if i < len(words) - 1 else "")
            pcm = words_pcm(word, 24000)
            await self.send({"type": "response.audio_transcript.delta", "response_id": rid,
                             "item_id": item, "output_index": 0, "content_index": 0,
                             "delta": piece})
            for j in range(0, len(pcm), server.chunk_bytes):
                if self.cancelled:
                    break
                await self.send({"type": "response.audio.delta", "response_id": rid,
                                 "item_id": item, "output_index": 0, "content_index": 0,
                                 "delta": base64.b64encode(pcm[j:j + server.chunk_bytes])
                                 .decode()})
            if self.cancelled:
                break
            await asyncio.sleep(server.interval)
        status = "cancelled" if self.cancelled else "completed"
        await self.send({"type": "response.done", "response": {
            "id": rid, "status": status,
            "usage": {"input_tokens": 40, "output_tokens": 10 * len(words)}}})

    async def call(self, rid: str, item: str, name: str, arguments: str) -> None:
        call_id = f"call_{uuid.uuid4().hex[:6]}"
        await self.send({"type": "response.output_item.added", "response_id": rid,
                         "output_index": 0, "item": {"id": item, "type": "function_call",
                                                     "call_id": call_id, "name": name}})
        for i in range(0, len(arguments), 3):
            await self.send({"type": "response.function_call_arguments.delta",
                             "response_id": rid, "item_id": item, "call_id": call_id,
                             "delta": arguments[i:i + 3]})
        await self.send({"type": "response.function_call_arguments.done", "response_id": rid,
                         "item_id": item, "call_id": call_id, "name": name,
                         "arguments": arguments})
        await asyncio.sleep(self.server.interval)
        await self.send({"type": "response.done", "response": {
            "id": rid, "status": "completed", "usage": {"input_tokens": 40,
                                                         "output_tokens": 12}}})
