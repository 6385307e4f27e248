"""OpenAI speech to text: ``POST {base_url}/audio/transcriptions`` on each speech segment.

A batch recognizer, as Whisper is: the framework gates the audio with the VAD and hands each
segment to :meth:`STT.recognize`, which sends it as a 16-bit WAV file (multipart form, with
``model``, ``language`` and ``response_format=json``) and returns the ``text`` of the answer as
a final transcript. Retries belong to the caller (the STT node runs ``call_with_retry``), so one
call is one request, bounded by the connection options' timeout; cancelling it closes the
request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import aiohttp

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError
from flowagents.plugins._audio import wav_bytes
from flowagents.plugins._http import (
    APIKey,
    HTTPSession,
    connection_error,
    response_error,
    timeout_for,
)
from flowagents.stt.stt import STT as BaseSTT
from flowagents.stt.stt import STTCapabilities
from flowagents.types import AudioFrame, SpeechData, SpeechEvent, SpeechEventType

from .llm import DEFAULT_BASE_URL

__all__ = ["STT"]


class STT(BaseSTT):
    """Transcription by an OpenAI-compatible ``/audio/transcriptions`` endpoint.

    ``model``: ``gpt-4o-mini-transcribe``, ``whisper-1``, or what a local server serves;
    ``prompt``: vocabulary hints. Key and base URL as for :class:`~.llm.LLM`.
    """

    label = "openai-stt"

    def __init__(self, *, model: str = "gpt-4o-mini-transcribe", language: str = "en",
                 prompt: str | None = None, api_key: str | None = None,
                 base_url: str | None = None) -> None:
        super().__init__(STTCapabilities(streaming=False, interim_results=False))
        self.model = model
        self.language = language
        self.prompt = prompt
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self._key = APIKey("openai", api_key, "OPENAI_API_KEY",
                           required=self.base_url == DEFAULT_BASE_URL)
        self._http = HTTPSession()

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        lang = language or self.language
        start = frames[0].timestamp if frames else 0.0
        duration = sum(f.duration for f in frames)
        form = aiohttp.FormData()
        form.add_field("file", wav_bytes(frames), filename="audio.wav", content_type="audio/wav")
        form.add_field("model", self.model)
        form.add_field("response_format", "json")
        if lang:
            form.add_field("language", lang)
        if self.prompt:
            form.add_field("prompt", self.prompt)
        headers = {"Authorization": f"Bearer {self._key.reveal()}"} if self._key else {}
        try:
            async with self._http.get().post(f"{self.base_url}/audio/transcriptions", data=form,
                                              headers=headers,
                                              timeout=timeout_for(conn_options.timeout)) as resp:
                if resp.status != 200:
                    raise await response_error("openai", resp, self._key)
                request_id = resp.headers.get("x-request-id", "")
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("openai", e, self._key) from None
        text = _text(raw, self._key)
        data = SpeechData(text=text, language=lang, start_time=start, end_time=start + duration)
        return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, timestamp=start + duration,
                           alternatives=(data,), request_id=request_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"openai.STT(model={self.model!r}, base_url={self.base_url!r})"


def _text(raw: bytes, key: APIKey) -> str:
    import json

    try:
        body = json.loads(raw)
        text = body["text"]
        if not isinstance(text, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise APIError("openai: malformed transcription (no JSON 'text')",
                       body=key.scrub(raw[:200].decode("utf-8", "replace"))) from None
    return text.strip()
