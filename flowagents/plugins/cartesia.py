"""Cartesia text to speech over its WebSocket API (``/tts/websocket``), with continuation contexts.

Every generation request names a ``context_id``; the server answers ``chunk`` messages (base64
16-bit little-endian PCM, ``container: raw``) for that context and a ``done`` once it has voiced
everything the context was given. :meth:`TTS.synthesize` voices one text in one context
(``continue: false``); the calls of one TTS share one socket (a context each), so a sentence after
the first pays no handshake. :meth:`TTS.stream` opens a context per segment and sends each piece of
text as it comes with ``continue: true`` (Cartesia keeps the prosody across them); ``flush()``
closes the segment with an empty transcript and ``continue: false``. Closing either early sends
``{"context_id": ..., "cancel": true}`` for the contexts still open, so the server stops
generating; a stream then closes its socket, a ``synthesize`` keeps the shared one unless it never
answered (then the next attempt reconnects). An ``error`` message becomes a status error, a frame
that is not JSON a malformed-reply error, and a socket that closes before ``done`` a connection
error. The key travels in the ``X-API-Key`` header (``CARTESIA_API_KEY`` by default), never in the
URL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
)
from flowagents.plugins._audio import PCMChunker
from flowagents.plugins._http import APIKey, HTTPSession, connection_error, status_error
from flowagents.plugins._ws import (
    INPUT_END,
    SharedConnection,
    TaskSynthesizeStream,
    beside,
    json_messages,
)
from flowagents.retry import call_with_retry, retry_stream
from flowagents.tts.tts import TTS as BaseTTS
from flowagents.tts.tts import TTSCapabilities
from flowagents.types import AudioFrame, SynthesizedAudio

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "TTS", "SynthesizeStream"]

DEFAULT_BASE_URL = "https://api.cartesia.ai"
API_VERSION = "2024-11-13"
DEFAULT_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=1.0)  # a barge-in never waits long for a close


class TTS(BaseTTS):
    """Cartesia Sonic, ``cartesia.TTS(model="sonic-2", voice=<id>)`` as in LiveKit."""

    label = "cartesia"

    def __init__(self, *, model: str = "sonic-2", voice: str = DEFAULT_VOICE,
                 language: str = "en", sample_rate: int = 24000, api_key: str | None = None,
                 base_url: str | None = None, api_version: str = API_VERSION) -> None:
        super().__init__(TTSCapabilities(streaming=True), sample_rate, 1)
        self.model = model
        self.voice = voice
        self.language = language
        self.base_url = (base_url or os.environ.get("CARTESIA_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.api_version = api_version
        self._key = APIKey("cartesia", api_key, "CARTESIA_API_KEY")
        self._http = HTTPSession()
        self._socket: SharedConnection[_Socket] = SharedConnection(self._open_socket,
                                                                   lambda s: s.alive)

    def request(self, context_id: str, transcript: str, *, more: bool) -> dict[str, Any]:
        """One generation request; every input of a context carries the same fields."""
        return {"model_id": self.model, "transcript": transcript,
                "voice": {"mode": "id", "id": self.voice}, "language": self.language,
                "context_id": context_id, "continue": more,
                "output_format": {"container": "raw", "encoding": "pcm_s16le",
                                  "sample_rate": self.sample_rate}}

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        try:
            return await self._http.get().ws_connect(
                f"{self.base_url}/tts/websocket", timeout=_WS_TIMEOUT,
                headers={"X-API-Key": self._key.reveal(), "Cartesia-Version": self.api_version})
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("cartesia", e, self._key) from None

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        return retry_stream(lambda: self._synthesize(text), conn_options=conn_options,
                            label=self.label)

    async def _shared(self) -> _Socket:
        """The socket the ``synthesize`` calls share, (re)opened when needed."""
        return await self._socket.get()

    async def _open_socket(self) -> _Socket:
        return _Socket(await self.connect(), self._key)

    async def _synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        socket = await self._shared()
        context_id = uuid.uuid4().hex
        queue = socket.open(context_id)
        heard = done = False
        try:
            await socket.ws.send_str(json.dumps(self.request(context_id, text, more=False)))
            pcm = PCMChunker(self.sample_rate)
            first = text
            while True:
                message = await queue.get()
                if isinstance(message, BaseException):
                    raise message
                heard = True
                _raise_if_error(message, self._key)
                frame = _chunk(message, pcm, self._key)
                if frame is not None:
                    yield SynthesizedAudio(frame, text=first, segment_id=context_id)
                    first = ""
                if message.get("done"):
                    done = True
                    yield _end(self.sample_rate, context_id)
                    return
        finally:
            socket.contexts.pop(context_id, None)
            if not done:
                # stopped early: cancel the context; a socket that never answered is dropped
                # (the next attempt reconnects), one that did stays for the next sentence
                await socket.stop(context_id, drop=not heard)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SynthesizeStream:
        return SynthesizeStream(self, conn_options)

    async def aclose(self) -> None:
        socket = self._socket.take()
        if socket is not None:
            await socket.aclose()
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"cartesia.TTS(model={self.model!r}, voice={self.voice!r})"




class SynthesizeStream(TaskSynthesizeStream):
    """Text in as it comes, one Cartesia context per segment (see the module docstring)."""

    def __init__(self, tts: TTS, conn_options: APIConnectOptions) -> None:
        self._tts = tts
        self._conn_options = conn_options
        self._pending: deque[str] = deque()  # contexts sent, not yet done, in order
        self._ended = False
        super().__init__()

    async def _run(self) -> None:
        ws: aiohttp.ClientWebSocketResponse | None = None
        try:
            ws = await call_with_retry(self._tts.connect, conn_options=self._conn_options,
                                       label=self._tts.label)
            async with beside(self._send(ws)):
                await self._receive(ws)
            self._out.end()
        except APIError as e:
            self._out.fail(e)
        finally:
            if ws is not None:
                await _cancel(ws, list(self._pending))

    async def _send(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        tts, context = self._tts, None
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
            while True:
                item = await self._input.get()
                if isinstance(item, str):
                    if context is None:
                        context = uuid.uuid4().hex
                        self._pending.append(context)
                    await ws.send_str(json.dumps(tts.request(context, item, more=True)))
                    continue
                if context is not None:  # a flush, or the end: close the segment's context
                    await ws.send_str(json.dumps(tts.request(context, "", more=False)))
                    context = None
                if item is INPUT_END:
                    self._ended = True
                    if not self._pending:
                        await ws.close()
                    return

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        chunkers: dict[str, PCMChunker] = {}
        async for message in _messages(ws, self._tts._key):
            context = str(message.get("context_id"))
            if context not in self._pending:
                continue
            pcm = chunkers.setdefault(context, PCMChunker(self._tts.sample_rate))
            frame = _chunk(message, pcm, self._tts._key)
            if frame is not None:
                self._out.put(SynthesizedAudio(frame, segment_id=context))
            if message.get("done"):
                self._pending.remove(context)
                chunkers.pop(context, None)
                self._out.put(_end(self._tts.sample_rate, context))
                if self._ended and not self._pending:
                    return
        if not (self._ended and not self._pending):
            raise APIConnectionError("cartesia: the connection closed before the audio was done")


class _Socket:
    """One WebSocket shared by a TTS's ``synthesize`` calls (Cartesia multiplexes contexts on
    it): a reader task hands each message to its context's queue, and a broken socket fails
    every context still open on it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, key: APIKey) -> None:
        self.ws = ws
        self.contexts: dict[str, asyncio.Queue[dict[str, Any] | BaseException]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read(key))

    @property
    def alive(self) -> bool:
        return not self.ws.closed and not self._reader.done()

    def open(self, context_id: str) -> asyncio.Queue[dict[str, Any] | BaseException]:
        queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self.contexts[context_id] = queue
        return queue

    async def _read(self, key: APIKey) -> None:
        error: APIError = APIConnectionError(
            "cartesia: the connection closed before the audio was done")
        try:
            async for message in _messages(self.ws, key, raise_errors=False):
                queue = self.contexts.get(str(message.get("context_id")))
                if queue is not None:
                    queue.put_nowait(message)
        except APIError as e:
            error = e
        for queue in self.contexts.values():
            queue.put_nowait(error)
        self.contexts.clear()

    async def stop(self, context_id: str, *, drop: bool) -> None:
        if drop:
            await self.aclose()
        elif self.alive:
            await _cancel(self.ws, [context_id], close=False)

    async def aclose(self) -> None:
        self._reader.cancel()
        await _cancel(self.ws, [])


def _raise_if_error(message: dict[str, Any], key: APIKey) -> None:
    if message.get("type") == "error":
        code = int(message.get("status_code") or 500)
        detail = str(message.get("error") or message.get("message") or "")
        raise status_error("cartesia", code, {}, json.dumps({"message": detail}), key)


async def _messages(ws: aiohttp.ClientWebSocketResponse, key: APIKey, *,
                    raise_errors: bool = True) -> AsyncIterator[dict[str, Any]]:
    """The server's JSON messages until the socket closes; an ``error`` is raised (unless the
    caller routes it to its context)."""
    async for message in json_messages(ws, "cartesia", key):
        if raise_errors:
            _raise_if_error(message, key)
        yield message


def _chunk(message: dict[str, Any], pcm: PCMChunker, key: APIKey) -> AudioFrame | None:
    if message.get("type") != "chunk" or not message.get("data"):
        return None
    try:
        data = base64.b64decode(message["data"], validate=True)
    except (ValueError, TypeError):
        raise APIError("cartesia: malformed audio chunk (not base64)") from None
    return pcm.push(data)


def _end(sample_rate: int, segment_id: str) -> SynthesizedAudio:
    return SynthesizedAudio(AudioFrame.silence(0.0, sample_rate), segment_id=segment_id,
                            is_final=True)


async def _cancel(ws: aiohttp.ClientWebSocketResponse, contexts: list[str], *,
                  close: bool = True) -> None:
    """Tell the server to stop the contexts still open, then close the socket."""
    with contextlib.suppress(ConnectionResetError, aiohttp.ClientError, RuntimeError):
        for context in contexts:
            if not ws.closed:
                await ws.send_str(json.dumps({"context_id": context, "cancel": True}))
    if close:
        with contextlib.suppress(aiohttp.ClientError, RuntimeError):
            await ws.close()
