"""A local server that speaks OpenAI's HTTP API: chat completions (SSE), transcriptions, speech.

Tests script what it answers (:class:`Reply` for a chat completion, :class:`Fault` for any
route) and read what it saw: the JSON bodies, the headers, and ``closed_at``, the loop times
at which a client went away while a reply was still streaming (the handler is cancelled when
the connection drops, as aiohttp does with ``handler_cancellation``). Without a script a chat
completion echoes the last user message ("You said: ..."), a transcription returns
``transcript`` and speech returns a 440 Hz tone of 0.1 s per word, so agents can run against it
unscripted. ``start()`` serves it on the running loop (virtual time works: the client and the
server share the loop); :func:`providers.threaded.serve_in_thread` serves it for code on
other loops or processes.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from .base import Fault, LocalServer

__all__ = ["Fault", "OpenAIServer", "Reply", "ToolCall"]


@dataclass
class ToolCall:
    name: str
    arguments: str
    call_id: str = ""


@dataclass
class Reply:
    """One streamed chat completion.

    ``text`` goes out in ``pieces`` (whole strings) or word by word; each tool call's arguments
    in fragments of ``split`` characters (with the id and name in the first delta). Every SSE
    event is written in two halves cut mid-JSON when ``split_frames``. ``delay`` seconds pass
    before the first byte and ``interval`` between chunks. After ``disconnect_after`` chunks
    the connection is dropped; after ``hang_after`` chunks the stream stays open without a word;
    ``malformed_at`` puts a frame that is not JSON at that position.
    """

    text: str = ""
    pieces: list[str] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    split: int = 3
    split_frames: bool = False
    delay: float = 0.0
    interval: float = 0.0
    disconnect_after: int | None = None
    hang_after: int | None = None
    malformed_at: int | None = None
    usage: tuple[int, int] = (12, 7)

    def events(self, completion_id: str, model: str) -> list[str]:
        """The ``data:`` payloads of the stream, ``[DONE]`` last."""

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            return json.dumps({
                "id": completion_id, "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]})

        out = [chunk({"role": "assistant", "content": ""})]
        pieces = self.pieces if self.pieces is not None else _words(self.text)
        out += [chunk({"content": p}) for p in pieces]
        for index, call in enumerate(self.tool_calls):
            call_id = call.call_id or f"call_{index}"
            args = call.arguments
            frags = [args[i:i + self.split] for i in range(0, len(args), self.split)] or [""]
            out.append(chunk({"tool_calls": [{
                "index": index, "id": call_id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}]}))
            out += [chunk({"tool_calls": [{"index": index, "function": {"arguments": f}}]})
                    for f in frags]
        out.append(chunk({}, "tool_calls" if self.tool_calls else "stop"))
        out.append(json.dumps({
            "id": completion_id, "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [],
            "usage": {"prompt_tokens": self.usage[0], "completion_tokens": self.usage[1],
                      "total_tokens": sum(self.usage),
                      "prompt_tokens_details": {"cached_tokens": 0}}}))
        if self.malformed_at is not None:
            out.insert(self.malformed_at, '{"id": "broken", "choices": [{"delta": {"cont')
        out.append("[DONE]")
        return out


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words) if w]


class OpenAIServer(LocalServer):
    """See the module docstring. ``api_key``: the key a request must carry as a bearer token."""

    provider = "openai"

    def __init__(self, api_key: str = "sk-test-0123456789", *, transcript: str = "hello there",
                 sample_rate: int = 24000) -> None:
        super().__init__(api_key)
        self.replies: deque[Reply | Fault] = deque()
        self.transcript = transcript
        self.sample_rate = sample_rate
        self.transcripts: deque[str | Fault] = deque()
        self.speech: deque[Fault | None] = deque()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self._chat),
                web.post("/v1/audio/transcriptions", self._transcribe),
                web.post("/v1/audio/speech", self._speech)]

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _unauthorized(self, request: web.Request) -> web.Response:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.json_response({"error": {
            "message": f"Incorrect API key provided: {sent}.",
            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}},
            status=401, headers={"x-request-id": "req_unauthorized"})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.record("chat", body, request.headers)
        if not self._authorized(request):
            return self._unauthorized(request)
        script = self.replies.popleft() if self.replies else None
        if isinstance(script, Fault):
            return await script.respond(request, server=self)
        reply = script or Reply(text=f"You said: {_last_user_text(body)}")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:10]}"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "x-request-id": f"req_{completion_id}"})
        with self.watch_close():
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await resp.prepare(request)
            for i, data in enumerate(reply.events(completion_id, body.get("model", ""))):
                if i == reply.disconnect_after:
                    self.drop(request)
                    return resp
                if i == reply.hang_after:
                    await asyncio.Event().wait()
                frame = f"data: {data}\n\n".encode()
                if reply.split_frames and len(frame) > 4:
                    half = len(frame) // 2
                    await resp.write(frame[:half])
                    await asyncio.sleep(0.001)
                    frame = frame[half:]
                await resp.write(frame)
                if reply.interval:
                    await asyncio.sleep(reply.interval)
        await resp.write_eof()
        return resp

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload = form.get("file")
        audio = upload.file.read() if isinstance(upload, web.FileField) else b""
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        self.record("transcriptions", {**fields, "file_bytes": len(audio)}, request.headers)
        if not self._authorized(request):
            return self._unauthorized(request)
        script = self.transcripts.popleft() if self.transcripts else self.transcript
        if isinstance(script, Fault):
            return await script.respond(request, json.dumps({"text": self.transcript}).encode(),
                                        self)
        return web.json_response({"text": script},
                                 headers={"x-request-id": f"req_{uuid.uuid4().hex[:8]}"})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.record("speech", body, request.headers)
        if not self._authorized(request):
            return self._unauthorized(request)
        fault = self.speech.popleft() if self.speech else None
        if fault is not None:
            return await fault.respond(request, tone(self, body.get("input", "")), self)
        resp = web.StreamResponse(headers={"Content-Type": "audio/pcm",
                                           "x-request-id": f"req_{uuid.uuid4().hex[:8]}"})
        await resp.prepare(request)
        with self.watch_close():
            await resp.write(tone(self, body.get("input", "")))
        await resp.write_eof()
        return resp


def tone(server: OpenAIServer, text: str) -> bytes:
    """0.1 s of 440 Hz per word, 16-bit little-endian PCM at the server's rate."""
    n = round(0.1 * server.sample_rate) * max(1, len(text.split()))
    t = np.arange(n) / server.sample_rate
    return (np.sin(2 * math.pi * 440.0 * t) * 8000).astype("<i2").tobytes()


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
            return str(content or "")
    return ""
