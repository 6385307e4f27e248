"""STT fallback: recognize with the first healthy STT, switch on failure, switch back later.

Same policy as the LLM fallback: a per-STT retry budget, then a retryable failure marks the STT
unavailable (``availability_changed``), starts an owned recovery probe (re-recognizing the failed
segment every ``recovery_interval`` s; cancelled by ``aclose()``) and moves on; all failing raises
``APIConnectionError("all STTs failed")``. Streaming goes through the VAD stream adapter, so the
fallback decision is made per speech segment and a segment is never half-transcribed by two STTs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
)
from flowagents.retry import Availability, AvailabilityChangedEvent, call_with_retry
from flowagents.types import AudioFrame, SpeechEvent
from flowagents.vad import VAD

from .stream_adapter import StreamAdapter
from .stt import STT, SpeechStream, STTCapabilities

__all__ = ["FallbackAdapter"]

logger = logging.getLogger("flowagents.stt")


class FallbackAdapter(STT):
    """An STT that is the first healthy one of ``stts``; ``vad`` enables ``stream()``."""

    def __init__(self, stts: Sequence[STT], *, vad: VAD | None = None,
                 attempt_timeout: float = 10.0, max_retry_per_stt: int = 1,
                 retry_interval: float = 0.5, recovery_interval: float = 5.0) -> None:
        super().__init__(STTCapabilities(streaming=vad is not None, interim_results=False))
        self.stts = list(stts)
        self.vad = vad
        self.availability: Availability[STT] = Availability(
            self.stts, recovery_interval=recovery_interval, probe_timeout=attempt_timeout)
        self._options = APIConnectOptions(max_retry=max_retry_per_stt,
                                          retry_interval=retry_interval, timeout=attempt_timeout)
        self.label = "fallback(" + ",".join(s.label for s in self.stts) + ")"

    def on(self, event: Literal["availability_changed"],
           callback: Callable[[AvailabilityChangedEvent[STT]], None]) -> None:
        if event != "availability_changed":
            raise ValueError(f"unknown event {event!r}")
        self.availability.on_change(callback)

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        opts = self._options
        for index in self.availability.order():
            stt = self.stts[index]
            try:
                result = await call_with_retry(
                    self._call(stt, frames, language, opts), conn_options=opts, label=stt.label)
            except APIError as e:
                if not e.retryable:
                    raise
                logger.warning("STT failed, trying the next one", extra={"stt": stt.label})
                once = APIConnectOptions(max_retry=0, timeout=opts.timeout)
                self.availability.mark_unavailable(index, self._call(stt, frames, language, once))
                continue
            self.availability.mark_available(index)
            return result
        raise APIConnectionError("all STTs failed", retryable=False)

    @staticmethod
    def _call(stt: STT, frames: Sequence[AudioFrame], language: str | None,
              opts: APIConnectOptions) -> Callable[[], Awaitable[SpeechEvent]]:
        frames = list(frames)
        return lambda: stt.recognize(frames, language=language, conn_options=opts)

    def stream(
        self, *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        if self.vad is None:
            raise TypeError("FallbackAdapter streams through VAD segments: pass vad=")
        # no retries around the chain: each STT was already retried in recognize()
        return StreamAdapter(self, self.vad).stream(
            language=language, conn_options=APIConnectOptions(max_retry=0, timeout=1e9))

    async def aclose(self) -> None:
        """Stop the recovery probes (the wrapped STTs are owned by the caller)."""
        await self.availability.aclose()
