"""Deepgram speech to text: the live WebSocket API (``/v1/listen``), and the batch endpoint.

A stream connects on its first frame (the URL carries that frame's ``sample_rate`` and
``channels``, with ``encoding=linear16``, the model, language and features as query parameters;
the key goes in the ``Authorization: Token`` header), sends the audio as binary messages, and
turns Deepgram's messages into speech events: ``SpeechStarted`` (with ``vad_events``) and the
first words heard open the speech, ``Results`` are interim or final transcripts, a final with
``speech_final`` or an ``UtteranceEnd`` closes it. ``flush()`` sends ``Finalize``,
``end_input()`` sends ``CloseStream`` (the server answers what is pending and closes), and a
``KeepAlive`` goes out whenever no audio was sent for ``keepalive_interval`` seconds (Deepgram
closes an idle socket after 10 s). Connecting is retried under the connection options (a 429
waits for its Retry-After, a 401 fails at once). A connection that breaks later is replaced (the
speech in flight ends there; the audio not yet sent goes to the new one), up to ``max_retry``
breaks in a row without a word from the server; a message that is not JSON ends the stream
with a typed error. ``aclose()`` closes the socket.
Event times are on the session clock: the first frame's timestamp plus Deepgram's audio time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
)
from flowagents.plugins._audio import wav_bytes
from flowagents.plugins._http import (
    APIKey,
    HTTPSession,
    connection_error,
    response_error,
    timeout_for,
)
from flowagents.plugins._ws import Outbox, beside, json_messages, stop_task
from flowagents.retry import call_with_retry
from flowagents.stt.stt import STT as BaseSTT
from flowagents.stt.stt import SpeechStream as BaseSpeechStream
from flowagents.stt.stt import STTCapabilities
from flowagents.types import AudioFrame, SpeechData, SpeechEvent, SpeechEventType

__all__ = ["DEFAULT_BASE_URL", "STT", "SpeechStream"]

logger = logging.getLogger("flowagents.plugins.deepgram")

DEFAULT_BASE_URL = "https://api.deepgram.com/v1/listen"


@dataclass(frozen=True, slots=True)
class _Options:
    model: str
    language: str
    interim_results: bool
    punctuate: bool
    smart_format: bool
    vad_events: bool
    endpointing_ms: int
    utterance_end_ms: int | None
    filler_words: bool
    keyterms: tuple[str, ...]

    def query(self, language: str | None) -> list[tuple[str, str]]:
        def flag(value: bool) -> str:
            return "true" if value else "false"

        params = [("model", self.model), ("language", language or self.language),
                  ("punctuate", flag(self.punctuate)), ("smart_format", flag(self.smart_format)),
                  ("filler_words", flag(self.filler_words))]
        params += [("keyterm", term) for term in self.keyterms]
        return params


class STT(BaseSTT):
    """Deepgram's streaming recognizer, ``deepgram.STT(model="nova-3")`` as in LiveKit.

    ``api_key`` defaults to ``DEEPGRAM_API_KEY``. ``endpointing_ms``: silence that ends a
    final result; ``utterance_end_ms``: silence (in words' timing) that ends an utterance
    (needs interim results; None to leave it off).
    """

    label = "deepgram"

    def __init__(self, *, model: str = "nova-3", language: str = "en-US",
                 interim_results: bool = True, punctuate: bool = True,
                 smart_format: bool = True, vad_events: bool = True, endpointing_ms: int = 25,
                 utterance_end_ms: int | None = 1000, filler_words: bool = True,
                 keyterms: Sequence[str] = (), keepalive_interval: float = 5.0,
                 api_key: str | None = None, base_url: str | None = None) -> None:
        super().__init__(STTCapabilities(streaming=True, interim_results=interim_results))
        self.model = model
        self.base_url = base_url or os.environ.get("DEEPGRAM_BASE_URL") or DEFAULT_BASE_URL
        self.keepalive_interval = keepalive_interval
        self._opts = _Options(model, language, interim_results, punctuate, smart_format,
                              vad_events, endpointing_ms, utterance_end_ms, filler_words,
                              tuple(keyterms))
        self._key = APIKey("deepgram", api_key, "DEEPGRAM_API_KEY")
        self._http = HTTPSession()

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        """One segment through the pre-recorded endpoint (``POST`` a WAV to the same URL)."""
        start = frames[0].timestamp if frames else 0.0
        end = start + sum(f.duration for f in frames)
        headers = {"Authorization": f"Token {self._key.reveal()}", "Content-Type": "audio/wav"}
        try:
            async with self._http.get().post(self.base_url, data=wav_bytes(frames), headers=headers,
                                              params=self._opts.query(language),
                                              timeout=timeout_for(conn_options.timeout)) as resp:
                if resp.status != 200:
                    raise await response_error("deepgram", resp, self._key)
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("deepgram", e, self._key) from None
        try:
            body = json.loads(raw)
            alt = body["results"]["channels"][0]["alternatives"][0]
            text, request_id = str(alt["transcript"]), str(body["metadata"]["request_id"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise APIError("deepgram: malformed transcription reply",
                           body=self._key.scrub(raw[:200].decode("utf-8", "replace"))) from None
        data = SpeechData(text=text, language=language or self._opts.language,
                          confidence=float(alt.get("confidence", 0.0)),
                          start_time=start, end_time=end)
        return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, end, (data,), request_id)

    def stream(
        self, *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        return SpeechStream(self, language, conn_options)

    async def _connect(self, frame: AudioFrame, language: str | None
                       ) -> aiohttp.ClientWebSocketResponse:
        opts = self._opts
        params = [*opts.query(language), ("encoding", "linear16"),
                  ("sample_rate", str(frame.sample_rate)),
                  ("channels", str(frame.num_channels)),
                  ("interim_results", "true" if opts.interim_results else "false"),
                  ("vad_events", "true" if opts.vad_events else "false"),
                  ("endpointing", str(opts.endpointing_ms))]
        if opts.utterance_end_ms is not None and opts.interim_results:
            params.append(("utterance_end_ms", str(opts.utterance_end_ms)))
        try:
            return await self._http.get().ws_connect(
                self.base_url, params=params,
                headers={"Authorization": f"Token {self._key.reveal()}"})
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("deepgram", e, self._key) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"deepgram.STT(model={self.model!r}, language={self._opts.language!r})"


_FLUSH, _END = object(), object()


class SpeechStream(BaseSpeechStream):
    """One live recognition session (see the module docstring)."""

    def __init__(self, stt: STT, language: str | None, conn_options: APIConnectOptions) -> None:
        self._stt = stt
        self._language = language
        self._conn_options = conn_options
        self._input: asyncio.Queue[Any] = asyncio.Queue()
        self._events: Outbox[SpeechEvent] = Outbox()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing = False  # CloseStream sent: the server's close is expected
        self._speaking = False
        self._heard = False  # the current connection has sent a message
        self._last_time = 0.0  # the end of the last audio pushed, on the session clock
        self._request_id = ""
        self._base = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    def push_frame(self, frame: AudioFrame) -> None:
        self._last_time = frame.end_time
        self._input.put_nowait(frame)

    def flush(self) -> None:
        self._input.put_nowait(_FLUSH)

    def end_input(self) -> None:
        self._input.put_nowait(_END)

    def __aiter__(self) -> AsyncIterator[SpeechEvent]:
        return self._events.__aiter__()

    async def aclose(self) -> None:
        await stop_task(self._task)
        if self._ws is not None:
            await self._ws.close()

    async def _first_frame(self) -> AudioFrame | None:
        """The next frame to open a connection with (None: the input ended first)."""
        while True:
            item = await self._input.get()
            if item is _END:
                return None
            if isinstance(item, AudioFrame):
                return item

    async def _run(self) -> None:
        breaks = 0  # consecutive connections that broke without a word from the server
        try:
            first = await self._first_frame()
            while first is not None:
                self._base = first.timestamp  # Deepgram's clock starts at each connection
                ws = await call_with_retry(
                    functools.partial(self._stt._connect, first, self._language),
                    conn_options=self._conn_options, label=self._stt.label)
                self._ws, self._heard = ws, False
                try:
                    await self._connection(ws, first)
                    break
                except APIConnectionError:
                    breaks = 0 if self._heard else breaks + 1
                    if self._closing or breaks > self._conn_options.max_retry:
                        raise
                logger.warning("deepgram stream broke, reconnecting")
                self._end(self._last_time)  # the speech in flight ends with the connection
                first = await self._first_frame()
            self._events.end()
        except APIError as e:
            self._events.fail(e)
        except (aiohttp.ClientError, TimeoutError) as e:
            self._events.fail(connection_error("deepgram", e, self._stt._key))

    async def _connection(self, ws: aiohttp.ClientWebSocketResponse, first: AudioFrame
                          ) -> None:
        try:
            async with beside(self._send(ws, first)):
                await self._receive(ws)
        finally:
            with contextlib.suppress(aiohttp.ClientError, RuntimeError):
                await ws.close()

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, first: AudioFrame) -> None:
        item: Any = first
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
            while True:
                if isinstance(item, AudioFrame):
                    await ws.send_bytes(item.data.tobytes())
                elif item is _FLUSH:
                    await ws.send_str('{"type": "Finalize"}')
                elif item is _END:
                    self._closing = True
                    await ws.send_str('{"type": "CloseStream"}')
                    return
                try:
                    async with asyncio.timeout(self._stt.keepalive_interval):
                        item = await self._input.get()
                except TimeoutError:
                    item = None
                    await ws.send_str('{"type": "KeepAlive"}')

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in json_messages(ws, "deepgram", self._stt._key):
            self._heard = True
            self._message(message)
        if not self._closing or ws.close_code not in (None, 1000):
            raise APIConnectionError(
                f"deepgram: the connection closed mid-stream (code {ws.close_code})")

    def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "SpeechStarted":
            self._start(self._base + float(message.get("timestamp", 0.0)))
        elif kind == "Results":
            self._results(message)
        elif kind == "UtteranceEnd":
            self._end(self._base + float(message.get("last_word_end", 0.0)))
        elif kind == "Metadata":
            self._request_id = str(message.get("request_id", self._request_id))
        elif kind == "Error":
            raise APIError(f"deepgram: {message.get('description') or 'error'}", body=message)

    def _start(self, at: float) -> None:
        if not self._speaking:
            self._speaking = True
            self._events.put(SpeechEvent(SpeechEventType.START_OF_SPEECH, at,
                                                request_id=self._request_id))

    def _end(self, at: float) -> None:
        if self._speaking:
            self._speaking = False
            self._events.put(SpeechEvent(SpeechEventType.END_OF_SPEECH, at,
                                                request_id=self._request_id))

    def _results(self, message: dict[str, Any]) -> None:
        alts = (message.get("channel") or {}).get("alternatives") or [{}]
        text = str(alts[0].get("transcript") or "")
        self._request_id = str((message.get("metadata") or {}).get("request_id")
                               or self._request_id)
        start = self._base + float(message.get("start", 0.0))
        end = start + float(message.get("duration", 0.0))
        if text:
            self._start(start)
            kind = (SpeechEventType.FINAL_TRANSCRIPT if message.get("is_final")
                    else SpeechEventType.INTERIM_TRANSCRIPT)
            data = SpeechData(text=text, language=self._language or self._stt._opts.language,
                              confidence=float(alts[0].get("confidence") or 0.0),
                              start_time=start, end_time=end)
            self._events.put(SpeechEvent(kind, end, (data,), self._request_id))
        if message.get("is_final") and message.get("speech_final"):
            self._end(end)

