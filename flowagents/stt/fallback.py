"""STT fallback: recognize with the first healthy STT, switch on failure, switch back later.

Same policy as the LLM fallback: a per-STT retry budget, then a retryable failure marks the STT
unavailable (``availability_changed``), starts an owned recovery probe (re-recognizing the failed
segment every ``recovery_interval`` s; cancelled by ``aclose()``) and moves on; all failing raises
``APIConnectionError("all STTs failed")``. Streaming goes through the VAD stream adapter, so the
fallback decision is made per speech segment and a segment is never half-transcribed by two STTs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError
from flowagents.retry import AvailabilityChangedEvent, FallbackChain, call_with_retry
from flowagents.types import AudioFrame, SpeechEvent
from flowagents.vad import VAD

from .stream_adapter import StreamAdapter
from .stt import STT, SpeechStream, STTCapabilities

__all__ = ["FallbackAdapter"]

class FallbackAdapter(STT):
    """An STT that is the first healthy one of ``stts``; ``vad`` enables ``stream()``."""

    def __init__(self, stts: Sequence[STT], *, vad: VAD | None = None,
                 attempt_timeout: float = 10.0, max_retry_per_stt: int = 1,
                 retry_interval: float = 0.5, recovery_interval: float = 5.0) -> None:
        super().__init__(STTCapabilities(streaming=vad is not None, interim_results=False))
        self.chain: FallbackChain[STT] = FallbackChain(
            stts, "STT", attempt_timeout=attempt_timeout, max_retry=max_retry_per_stt,
            retry_interval=retry_interval, recovery_interval=recovery_interval)
        self.stts, self.availability = self.chain.providers, self.chain.availability
        self.vad = vad
        self.label = self.chain.label

    def on(self, event: Literal["availability_changed"],
           callback: Callable[[AvailabilityChangedEvent[STT]], None]) -> None:
        self.chain.on(event, callback)

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        opts = self.chain.options
        for index, stt in self.chain.order():
            try:
                result = await call_with_retry(
                    self._call(stt, frames, language, opts), conn_options=opts, label=stt.label)
            except APIError as e:
                probe = self._call(stt, frames, language, self.chain.probe_options)
                self.chain.failover(index, e, probe)
                continue
            self.chain.availability.mark_available(index)
            return result
        raise self.chain.exhausted()

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
        await self.chain.aclose()
