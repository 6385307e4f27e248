"""OpenAI text to speech: ``POST {base_url}/audio/speech`` with ``response_format: "pcm"``.

The answer is raw 16-bit little-endian mono PCM at 24 kHz, streamed as it is synthesized. Each
piece that arrives is passed on as soon as it holds whole samples (a byte split between two
reads waits for its other half), so the first audio plays before the sentence is done; an empty
chunk with ``is_final`` marks the end (as the stream adapter marks it). A reply that is not
audio (a JSON or text body with status 200), or that ends mid-sample, is malformed. Retried
under the connection options until the first chunk; closing the iterator closes the HTTP
stream.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    APIError,
    NotGiven,
)
from flowagents.plugins._audio import PCMChunker
from flowagents.plugins._http import (
    APIKey,
    HTTPSession,
    connection_error,
    response_error,
    timeout_for,
)
from flowagents.retry import retry_stream
from flowagents.tts.tts import TTS as BaseTTS
from flowagents.tts.tts import TTSCapabilities
from flowagents.types import AudioFrame, SynthesizedAudio

from .llm import DEFAULT_BASE_URL

__all__ = ["SAMPLE_RATE", "TTS"]

SAMPLE_RATE = 24000
"""The rate of OpenAI's ``pcm`` output."""


class TTS(BaseTTS):
    """Speech from an OpenAI-compatible ``/audio/speech`` endpoint.

    ``model``: ``gpt-4o-mini-tts``, ``tts-1``...; ``voice``: ``ash``, ``alloy``...;
    ``instructions`` (gpt-4o-mini-tts) steer the delivery. Key and base URL as for the LLM.
    """

    label = "openai-tts"

    def __init__(self, *, model: str = "gpt-4o-mini-tts", voice: str = "ash",
                 speed: float | NotGiven = NOT_GIVEN,
                 instructions: str | NotGiven = NOT_GIVEN,
                 api_key: str | None = None, base_url: str | None = None) -> None:
        super().__init__(TTSCapabilities(streaming=False), SAMPLE_RATE, 1)
        self.model = model
        self.voice = voice
        self._extra: dict[str, Any] = {
            k: v for k, v in {"speed": speed, "instructions": instructions}.items()
            if not isinstance(v, NotGiven)}
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self._key = APIKey("openai", api_key, "OPENAI_API_KEY",
                           required=self.base_url == DEFAULT_BASE_URL)
        self._http = HTTPSession()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        payload = {"model": self.model, "input": text, "voice": self.voice,
                   "response_format": "pcm", **self._extra}
        return retry_stream(lambda: self._attempt(payload, conn_options),
                            conn_options=conn_options, label=self.label)

    async def _attempt(self, payload: dict[str, Any], options: APIConnectOptions
                       ) -> AsyncIterator[SynthesizedAudio]:
        headers = {"Authorization": f"Bearer {self._key.reveal()}"} if self._key else {}
        text = str(payload["input"])
        try:
            async with self._http.get().post(f"{self.base_url}/audio/speech", json=payload,
                                              headers=headers,
                                              timeout=timeout_for(options.timeout)) as resp:
                if resp.status != 200:
                    raise await response_error("openai", resp, self._key)
                kind = resp.content_type
                if kind.startswith(("application/json", "text/")):
                    raise APIError(f"openai: malformed speech reply ({kind}, not PCM)",
                                   body=self._key.scrub((await resp.text())[:200]))
                segment_id = resp.headers.get("x-request-id", "")
                pcm = PCMChunker(self.sample_rate)
                async for data in resp.content.iter_any():
                    frame = pcm.push(data)
                    if frame is not None:
                        yield SynthesizedAudio(frame, text=text, segment_id=segment_id)
                        text = ""
                if pcm.pending:
                    raise APIError("openai: malformed speech reply (ends mid-sample)")
                yield SynthesizedAudio(AudioFrame.silence(0.0, self.sample_rate), text=text,
                                       segment_id=segment_id, is_final=True)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("openai", e, self._key) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"openai.TTS(model={self.model!r}, voice={self.voice!r})"

