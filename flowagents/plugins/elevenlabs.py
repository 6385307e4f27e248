"""ElevenLabs text to speech over the stream-input WebSocket.

``{base_url}/v1/text-to-speech/{voice_id}/stream-input?model_id=...&output_format=pcm_<rate>``
takes one utterance per connection: an opening message (``text: " "`` with the voice settings
and the chunk schedule), the text as it comes (each piece ending in a space, as the service
wants), and ``{"text": ""}`` to end it; the service answers ``audio`` messages (base64 16-bit
little-endian PCM) and ``isFinal: true`` before it closes. :meth:`TTS.synthesize` voices one
text on one connection; :meth:`TTS.stream` opens one per segment and sends each piece of text as
it is pushed, ``flush()`` ending the segment. Closing early closes the socket, which makes the
service stop. An error message (``{"error": ..., "message": ...}``) is a status error (an
invalid key a 401), a frame that is not JSON a malformed reply, a close before ``isFinal`` a
connection error. The key goes in the ``xi-api-key`` header (``ELEVEN_API_KEY``, as LiveKit
reads it).
"""

from __future__ import annotations

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
from flowagents.plugins._ws import FLUSH, INPUT_END, TaskSynthesizeStream, beside, json_messages
from flowagents.retry import call_with_retry, retry_stream
from flowagents.tts.tts import TTS as BaseTTS
from flowagents.tts.tts import TTSCapabilities
from flowagents.types import AudioFrame, SynthesizedAudio

__all__ = ["DEFAULT_BASE_URL", "TTS", "SynthesizeStream", "VoiceSettings"]

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_VOICE = "EXAVITQu4vr4xnSDxMaL"
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=1.0)
_ERROR_STATUS = {"invalid_api_key": 401, "unauthorized": 401, "quota_exceeded": 429,
                 "rate_limited": 429, "voice_not_found": 404}


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
    strings name it)."""

    label = "elevenlabs"

    def __init__(self, *, voice_id: str = DEFAULT_VOICE, model: str = "eleven_flash_v2_5",
                 voice_settings: VoiceSettings | None = None, sample_rate: int = 24000,
                 chunk_length_schedule: tuple[int, ...] = (80, 120, 200, 260),
                 language: str | None = None, api_key: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, voice: str | None = None) -> None:
        super().__init__(TTSCapabilities(streaming=True), sample_rate, 1)
        self.voice_id = voice or voice_id
        self.model = model
        self.voice_settings = voice_settings or VoiceSettings()
        self.chunk_length_schedule = chunk_length_schedule
        self.language = language
        self.base_url = base_url.rstrip("/")
        self._key = APIKey("elevenlabs", api_key, "ELEVEN_API_KEY")
        self._http = HTTPSession()

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        """Open one utterance's socket and send its opening message."""
        params = {"model_id": self.model, "output_format": f"pcm_{self.sample_rate}"}
        if self.language:
            params["language_code"] = self.language
        try:
            ws = await self._http.get().ws_connect(
                f"{self.base_url}/v1/text-to-speech/{self.voice_id}/stream-input",
                params=params, headers={"xi-api-key": self._key.reveal()}, timeout=_WS_TIMEOUT)
            s = self.voice_settings
            await ws.send_str(json.dumps({
                "text": " ",
                "voice_settings": {"stability": s.stability,
                                   "similarity_boost": s.similarity_boost, "style": s.style,
                                   "speed": s.speed, "use_speaker_boost": s.use_speaker_boost},
                "generation_config": {"chunk_length_schedule": list(self.chunk_length_schedule)},
            }))
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("elevenlabs", e, self._key) from None
        return ws

    async def audio(self, ws: aiohttp.ClientWebSocketResponse, text: str, segment_id: str
                    ) -> AsyncIterator[SynthesizedAudio]:
        """The utterance's audio until ``isFinal`` (then an empty final chunk)."""
        pcm = PCMChunker(self.sample_rate)
        async for message in _messages(ws, self._key):
            if message.get("audio"):
                try:
                    data = base64.b64decode(message["audio"], validate=True)
                except (ValueError, TypeError):
                    raise APIError("elevenlabs: malformed audio (not base64)") from None
                frame = pcm.push(data)
                if frame is not None:
                    yield SynthesizedAudio(frame, text=text, segment_id=segment_id)
                    text = ""
            if message.get("isFinal"):
                yield SynthesizedAudio(AudioFrame.silence(0.0, self.sample_rate),
                                       segment_id=segment_id, is_final=True)
                return
        raise APIConnectionError("elevenlabs: the connection closed before the audio was final")

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        return retry_stream(lambda: self._synthesize(text), conn_options=conn_options,
                            label=self.label)

    async def _synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        ws = await self.connect()
        try:
            await ws.send_str(json.dumps({"text": _spaced(text), "flush": True}))
            await ws.send_str('{"text": ""}')
            async for chunk in self.audio(ws, text, segment_id=uuid.uuid4().hex):
                yield chunk
        finally:
            with contextlib.suppress(aiohttp.ClientError, RuntimeError):
                await ws.close()

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SynthesizeStream:
        return SynthesizeStream(self, conn_options)

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"elevenlabs.TTS(voice_id={self.voice_id!r}, model={self.model!r})"


def _spaced(text: str) -> str:
    """ElevenLabs wants each piece of text to end in a space."""
    return text if text.endswith(" ") else text + " "




class SynthesizeStream(TaskSynthesizeStream):
    """Text in as it comes, one connection per segment, segments voiced in order."""

    def __init__(self, tts: TTS, conn_options: APIConnectOptions) -> None:
        self._tts = tts
        self._conn_options = conn_options
        super().__init__()

    async def _run(self) -> None:
        segment = 0
        try:
            while True:
                item = await self._input.get()
                if item is INPUT_END:
                    break
                if item is FLUSH:
                    continue
                segment += 1
                await self._segment(item, f"segment-{segment}")
            self._out.end()
        except APIError as e:
            self._out.fail(e)

    async def _segment(self, first: str, segment_id: str) -> None:
        """One segment: its text sent as it comes (until a flush), its audio passed on."""
        tts = self._tts
        ws = await call_with_retry(tts.connect, conn_options=self._conn_options,
                                   label=tts.label)

        async def send() -> None:
            item: Any = first
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
                while isinstance(item, str):
                    await ws.send_str(json.dumps({"text": _spaced(item)}))
                    item = await self._input.get()
                if item is INPUT_END:
                    self._input.put_nowait(INPUT_END)  # ends the stream after this segment
                await ws.send_str('{"text": ""}')

        try:
            async with beside(send()):
                async for chunk in tts.audio(ws, first, segment_id):
                    self._out.put(chunk)
        finally:
            with contextlib.suppress(aiohttp.ClientError, RuntimeError):
                await ws.close()


async def _messages(ws: aiohttp.ClientWebSocketResponse, key: APIKey
                    ) -> AsyncIterator[dict[str, Any]]:
    """The service's JSON messages until the socket closes; an error message is raised."""
    async for message in json_messages(ws, "elevenlabs", key):
        if message.get("error"):
            code = str(message["error"])
            body = json.dumps({"message": f"{code}: {message.get('message', '')}"})
            raise status_error("elevenlabs", _ERROR_STATUS.get(code, 400), {}, body, key)
        yield message
