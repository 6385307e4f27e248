"""ElevenLabs text to speech over the multi-context WebSocket, one socket per TTS.

``{base_url}/v1/text-to-speech/{voice_id}/multi-stream-input?model_id=...&output_format=pcm_<rate>
&inactivity_timeout=<s>`` carries several independent generations ("contexts") on one socket, so
a TTS opens it once and every sentence after the first, in this reply and the next, pays no TLS
and WebSocket handshake. Each segment (a ``synthesize`` call, or a ``stream`` segment up to a
``flush()``) is a context with its own ``context_id``: its first message initialises it
(``text: " "`` with the voice settings and the chunk schedule), the text goes as it comes (each
piece ending in a space, as the service wants), and ``flush: true`` then ``close_context: true``
end it: the service voices what it buffered and, once the context is closed, sends its final
message (it sends none for a context that is only flushed). A reader task routes every message
to its context: ``audio`` (base64 16-bit little-endian PCM) and the final flag. A stream voices
its segments in order while the next one's text is already on the wire (at most two contexts
open per stream); the service allows five per socket, so a sixth waits for a place. A stream or
``synthesize`` closed early (a barge-in) sends ``close_context``, which drops the context's
unflushed text and stops it (a context already flushed is finished by the service: its API says
a flushed context keeps flushing); audio still coming for it is dropped on arrival. While a
context waits for text, an empty text (``{"text": "", "context_id": ...}``) keeps it alive
within ``inactivity_timeout``; an idle socket the service closes is reopened on the next use.
``aclose()`` sends ``close_socket``. The documented field names and what the service sends
differ: requests say ``context_id``; the AsyncAPI spec's responses say ``contextId`` and
``isFinal``, while the service (as LiveKit notes) and third-party write-ups also show
``context_id`` and ``is_final``, so both spellings are accepted on receive. An error message
(``{"error": ..., "message": ...}``) is a status error (an invalid key a 401) for its context, or
for every open context when it names none; a frame that is not JSON is a malformed reply and a
socket that breaks a connection error, for every context open on it, and the next use
reconnects. The key goes in the ``xi-api-key`` header (``ELEVEN_API_KEY``, as LiveKit reads
it), never in the URL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
    stop_task,
)
from flowagents.retry import call_with_retry, retry_stream
from flowagents.tts.tts import TTS as BaseTTS
from flowagents.tts.tts import TTSCapabilities
from flowagents.types import AudioFrame, SynthesizedAudio

__all__ = ["DEFAULT_BASE_URL", "TTS", "SynthesizeStream", "VoiceSettings"]

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_VOICE = "EXAVITQu4vr4xnSDxMaL"
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=1.0)  # a close never holds up a barge-in
_ERROR_STATUS = {"invalid_api_key": 401, "unauthorized": 401, "quota_exceeded": 429,
                 "rate_limited": 429, "max_active_conversations": 429,
                 "voice_not_found": 404, "input_timeout_exceeded": 408}
_AHEAD = 2  # contexts a stream keeps open at once: the one playing and the next one
_MAX_CONTEXTS = 5  # the service's limit per socket; one more and it closes the socket
_GRACE = 2.0  # how long a context closed early holds its place, waiting for its final message
_BROKEN = "elevenlabs: the connection closed before the audio was final"

Message = dict[str, Any]
Inbox = asyncio.Queue[Message | BaseException]


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    stability: float = 0.5
    similarity_boost: float = 0.75
    style: float = 0.0
    speed: float = 1.0
    use_speaker_boost: bool = True


class TTS(BaseTTS):
    """ElevenLabs, ``elevenlabs.TTS(voice_id=..., model="eleven_flash_v2_5")`` as in LiveKit
    (``voice=`` is accepted for ``voice_id``, as older LiveKit releases and the ``tts=``
    strings name it). ``inactivity_timeout`` (seconds, at most 180) is how long the service
    keeps a silent context."""

    label = "elevenlabs"

    def __init__(self, *, voice_id: str = DEFAULT_VOICE, model: str = "eleven_flash_v2_5",
                 voice_settings: VoiceSettings | None = None, sample_rate: int = 24000,
                 chunk_length_schedule: tuple[int, ...] = (80, 120, 200, 260),
                 language: str | None = None, api_key: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, voice: str | None = None,
                 inactivity_timeout: int = 180) -> None:
        super().__init__(TTSCapabilities(streaming=True), sample_rate, 1)
        if not 1 <= inactivity_timeout <= 180:
            raise ValueError("elevenlabs: inactivity_timeout must be 1 to 180 seconds")
        self.voice_id = voice or voice_id
        self.model = model
        self.voice_settings = voice_settings or VoiceSettings()
        self.chunk_length_schedule = chunk_length_schedule
        self.language = language
        self.base_url = base_url.rstrip("/")
        self.inactivity_timeout = inactivity_timeout
        self._key = APIKey("elevenlabs", api_key, "ELEVEN_API_KEY")
        self._http = HTTPSession()
        self._socket: SharedConnection[_Socket] = SharedConnection(self._open_socket,
                                                                   lambda s: s.alive)

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        """Open a multi-stream-input socket (the contexts are opened on it later)."""
        params = {"model_id": self.model, "output_format": f"pcm_{self.sample_rate}",
                  "inactivity_timeout": str(self.inactivity_timeout)}
        if self.language:
            params["language_code"] = self.language
        try:
            return await self._http.get().ws_connect(
                f"{self.base_url}/v1/text-to-speech/{self.voice_id}/multi-stream-input",
                params=params, headers={"xi-api-key": self._key.reveal()}, timeout=_WS_TIMEOUT)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("elevenlabs", e, self._key) from None

    async def socket(self) -> _Socket:
        """The TTS's shared socket, (re)opened when there is none or it broke."""
        return await self._socket.get()

    async def _open_socket(self) -> _Socket:
        return _Socket(await self.connect(), self._key)

    def opening(self, context_id: str) -> Message:
        """The message that initialises a context with this TTS's voice."""
        s = self.voice_settings
        return {"text": " ", "context_id": context_id,
                "voice_settings": {"stability": s.stability,
                                   "similarity_boost": s.similarity_boost, "style": s.style,
                                   "speed": s.speed, "use_speaker_boost": s.use_speaker_boost},
                "generation_config": {"chunk_length_schedule": list(self.chunk_length_schedule)}}

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        return retry_stream(lambda: self._synthesize(text), conn_options=conn_options,
                            label=self.label)

    async def _synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        socket = await self.socket()
        context_id = uuid.uuid4().hex
        inbox = await socket.open(context_id)
        heard = done = closed = False
        try:
            await socket.send(self.opening(context_id))
            await socket.send({"text": _spaced(text), "context_id": context_id, "flush": True})
            await socket.send({"context_id": context_id, "close_context": True})
            closed = True
            audio = _Audio(self.sample_rate, context_id, self._key)
            first = text
            while True:
                message = await inbox.get()
                heard = True
                frame, final = audio.take(message)
                if frame is not None:
                    yield SynthesizedAudio(frame, text=first, segment_id=context_id)
                    first = ""
                if final:
                    done = True
                    yield audio.end()
                    return
        finally:
            if done:
                socket.forget(context_id)
            else:
                # stopped early: a socket that never answered is dropped (the next attempt
                # reconnects), one that did stays for the next sentence
                await socket.stop(context_id, drop=not heard, close=not closed)

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
        return f"elevenlabs.TTS(voice_id={self.voice_id!r}, model={self.model!r})"


def _spaced(text: str) -> str:
    """ElevenLabs wants each piece of text to end in a space."""
    return text if text.endswith(" ") else text + " "


class _Audio:
    """One context's messages turned into frames: whole samples, the final flag, errors."""

    __slots__ = ("_key", "_pcm", "context_id")

    def __init__(self, sample_rate: int, context_id: str, key: APIKey) -> None:
        self._pcm = PCMChunker(sample_rate)
        self._key = key
        self.context_id = context_id

    def take(self, message: Message | BaseException) -> tuple[AudioFrame | None, bool]:
        """The frame a message completes (if any) and whether it ends the context."""
        if isinstance(message, BaseException):
            raise message
        if message.get("error"):
            raise _status(message, self._key)
        frame = None
        if message.get("audio"):
            try:
                data = base64.b64decode(message["audio"], validate=True)
            except (ValueError, TypeError):
                raise APIError("elevenlabs: malformed audio (not base64)") from None
            frame = self._pcm.push(data)
        return frame, bool(message.get("isFinal") or message.get("is_final"))

    def end(self) -> SynthesizedAudio:
        return SynthesizedAudio(AudioFrame.silence(0.0, self._pcm.sample_rate),
                                segment_id=self.context_id, is_final=True)


class SynthesizeStream(TaskSynthesizeStream):
    """Text in as it comes, a context per segment on the TTS's shared socket, segments voiced
    in order (see the module docstring)."""

    def __init__(self, tts: TTS, conn_options: APIConnectOptions) -> None:
        self._tts = tts
        self._conn_options = conn_options
        # the segments opened, in order, for the receiver; then None (the end) or an error
        self._segments: asyncio.Queue[tuple[_Socket, str, Inbox] | BaseException | None] = (
            asyncio.Queue())
        self._open: dict[str, _Socket] = {}  # contexts sent and not yet final
        self._closed: set[str] = set()  # those of them already closed (their segment ended)
        self._slots = asyncio.Semaphore(_AHEAD)
        super().__init__()

    async def _run(self) -> None:
        try:
            async with beside(self._send()):
                await self._receive()
            self._out.end()
        except APIError as e:
            self._out.fail(e)
        finally:
            # closed early (a barge-in) or failed: the service stops the contexts still open
            for context_id, socket in list(self._open.items()):
                await socket.stop(context_id, drop=False, close=context_id not in self._closed)
            self._open.clear()

    async def _send(self) -> None:
        tts, keep_alive = self._tts, self._tts.inactivity_timeout / 2
        socket: _Socket | None = None
        context_id = ""
        try:
            while True:
                if socket is None:
                    item = await self._input.get()
                else:  # a context waits for text: keep it alive
                    try:
                        async with asyncio.timeout(keep_alive):
                            item = await self._input.get()
                    except TimeoutError:
                        await socket.send({"text": "", "context_id": context_id})
                        continue
                if isinstance(item, str):
                    if socket is None:
                        await self._slots.acquire()
                        socket = await call_with_retry(tts.socket,
                                                       conn_options=self._conn_options,
                                                       label=tts.label)
                        context_id = uuid.uuid4().hex
                        self._open[context_id] = socket
                        inbox = await socket.open(context_id)
                        self._segments.put_nowait((socket, context_id, inbox))
                        await socket.send(tts.opening(context_id))
                    await socket.send({"text": _spaced(item), "context_id": context_id})
                    continue
                if socket is not None:  # a flush, or the end: the segment is complete
                    await socket.send({"text": "", "context_id": context_id, "flush": True})
                    await socket.send({"context_id": context_id, "close_context": True})
                    self._closed.add(context_id)
                    socket = None
                if item is INPUT_END:
                    self._segments.put_nowait(None)
                    return
        except APIError as e:
            self._segments.put_nowait(e)

    async def _receive(self) -> None:
        rate, key = self._tts.sample_rate, self._tts._key
        while True:
            segment = await self._segments.get()
            if segment is None:
                return
            if isinstance(segment, BaseException):
                raise segment
            socket, context_id, inbox = segment
            audio = _Audio(rate, context_id, key)
            while True:
                frame, final = audio.take(await inbox.get())
                if frame is not None:
                    self._out.put(SynthesizedAudio(frame, segment_id=context_id))
                if final:
                    break
            socket.forget(context_id)
            del self._open[context_id]
            self._closed.discard(context_id)
            self._slots.release()
            self._out.put(audio.end())


class _Socket:
    """One multi-stream-input WebSocket: a reader task hands each message to its context's
    inbox (a message for a context no longer open is dropped), and a broken socket fails
    every context still open on it. At most five contexts are open at once, as the service
    allows: a sixth waits for a place, which a context gives up at its final message (one
    closed early gives it up after ``_GRACE`` seconds at the latest, should that never come)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, key: APIKey) -> None:
        self.ws = ws
        self.contexts: dict[str, Inbox] = {}
        self._key = key
        self._room = asyncio.Semaphore(_MAX_CONTEXTS)
        self._held: dict[str, asyncio.TimerHandle | None] = {}  # contexts holding a place
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def alive(self) -> bool:
        return not self.ws.closed and not self._reader.done()

    async def open(self, context_id: str) -> Inbox:
        """Take a place for a new context (waiting if all five are taken) and route to it."""
        await self._room.acquire()
        self._held[context_id] = None
        if not self.alive:
            self._release(context_id)
            raise APIConnectionError(_BROKEN)
        inbox: Inbox = asyncio.Queue()
        self.contexts[context_id] = inbox
        return inbox

    def _release(self, context_id: str) -> None:
        if context_id in self._held:
            timer = self._held.pop(context_id)
            if timer is not None:
                timer.cancel()
            self._room.release()

    def forget(self, context_id: str) -> None:
        """Drop the context's routing: what still comes for it is ignored."""
        self.contexts.pop(context_id, None)

    async def send(self, message: Message) -> None:
        if not self.alive:
            raise APIConnectionError(_BROKEN)
        try:
            await self.ws.send_str(json.dumps(message))
        except (ConnectionResetError, aiohttp.ClientError, RuntimeError):
            raise APIConnectionError(_BROKEN) from None

    async def stop(self, context_id: str, *, drop: bool, close: bool) -> None:
        """Give up a context early: ``close`` sends ``close_context`` (unless it was sent
        already: the service has been told); ``drop`` closes the whole socket instead."""
        self.forget(context_id)
        if drop:
            await self.aclose()
        elif self.alive:
            if close:
                with contextlib.suppress(APIConnectionError):
                    await self.send({"context_id": context_id, "close_context": True})
            if context_id in self._held and self._held[context_id] is None:
                self._held[context_id] = asyncio.get_running_loop().call_later(
                    _GRACE, self._release, context_id)

    async def _read(self) -> None:
        error: APIError = APIConnectionError(_BROKEN)
        try:
            async for message in json_messages(self.ws, "elevenlabs", self._key):
                context_id = message.get("contextId") or message.get("context_id")
                inbox = self.contexts.get(str(context_id)) if context_id else None
                if inbox is not None:
                    inbox.put_nowait(message)
                if message.get("isFinal") or message.get("is_final"):
                    self._release(str(context_id))
                elif message.get("error") and not context_id:
                    error = _status(message, self._key)  # the whole socket failed
                    break
        except APIError as e:
            error = e
        self._fail(error)
        with contextlib.suppress(aiohttp.ClientError, RuntimeError):
            await self.ws.close()

    def _fail(self, error: APIError) -> None:
        """The socket is gone: every context open on it fails, every waiter wakes."""
        for inbox in self.contexts.values():
            inbox.put_nowait(error)
        self.contexts.clear()
        for context_id in list(self._held):
            self._release(context_id)

    async def aclose(self) -> None:
        """Say goodbye (``close_socket``), stop reading and close."""
        if self.alive:
            with contextlib.suppress(APIConnectionError):
                await self.send({"close_socket": True})
        await stop_task(self._reader)
        with contextlib.suppress(aiohttp.ClientError, RuntimeError):
            await self.ws.close()
        self._fail(APIConnectionError("elevenlabs: the connection was closed"))


def _status(message: Message, key: APIKey) -> APIError:
    code = str(message["error"])
    body = json.dumps({"message": f"{code}: {message.get('message', '')}"})
    return status_error("elevenlabs", _ERROR_STATUS.get(code, 400), {}, body, key)
