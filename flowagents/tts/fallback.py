"""TTS fallback: synthesize with the first healthy TTS, switch on failure, switch back later.

Same policy as the LLM fallback: a per-TTS retry budget, then a retryable failure before any
audio of a sentence marks the TTS unavailable (``availability_changed``), starts an owned
recovery probe (re-synthesizing the failed text every ``recovery_interval`` s; cancelled by
``aclose()``) and moves on; a failure after audio was delivered is raised (no half sentence in
two voices); all failing raises ``APIConnectionError("all TTSs failed")``. The output rate is the
highest of the providers' (or ``sample_rate``); other providers are resampled with LiveKit's
``AudioResampler``. ``stream()`` goes through the sentence stream adapter, so the fallback
decision is made per sentence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError
from flowagents.retry import AvailabilityChangedEvent, FallbackChain, retry_stream
from flowagents.types import AudioFrame, SynthesizedAudio

from .stream_adapter import StreamAdapter, StreamAdapterStream
from .tts import TTS, TTSCapabilities

__all__ = ["FallbackAdapter"]

class FallbackAdapter(TTS):
    """A TTS that is the first healthy one of ``ttss``, at one output rate."""

    def __init__(self, ttss: Sequence[TTS], *, sample_rate: int | None = None,
                 attempt_timeout: float = 10.0, max_retry_per_tts: int = 1,
                 retry_interval: float = 0.5, recovery_interval: float = 5.0) -> None:
        channels = {t.num_channels for t in ttss}
        if len(channels) > 1:
            raise ValueError("the TTSs of a fallback chain must have the same channel count")
        self.chain: FallbackChain[TTS] = FallbackChain(
            ttss, "TTS", attempt_timeout=attempt_timeout, max_retry=max_retry_per_tts,
            retry_interval=retry_interval, recovery_interval=recovery_interval)
        super().__init__(TTSCapabilities(streaming=True),
                         sample_rate or max(t.sample_rate for t in ttss), channels.pop())
        self.ttss, self.availability = self.chain.providers, self.chain.availability
        self.label = self.chain.label

    def on(self, event: Literal["availability_changed"],
           callback: Callable[[AvailabilityChangedEvent[TTS]], None]) -> None:
        self.chain.on(event, callback)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        return self._synthesize(text)

    async def _synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        opts = self.chain.options
        for index, tts in self.chain.order():
            delivered = False

            def open_stream(tts: TTS = tts) -> AsyncIterator[SynthesizedAudio]:
                return tts.synthesize(text, conn_options=opts.once())

            resample = self._resampler(tts)
            try:
                async for chunk in retry_stream(open_stream, conn_options=opts, label=tts.label):
                    for out in resample(chunk):
                        delivered = True
                        yield out
            except APIError as e:
                # no half sentence in two voices
                self.chain.failover(index, e, self._probe(tts, text), delivered=delivered)
                continue
            self.chain.availability.mark_available(index)
            return
        raise self.chain.exhausted()

    def _resampler(self, tts: TTS) -> Callable[[SynthesizedAudio], list[SynthesizedAudio]]:
        """Convert one provider's chunks to the adapter's rate (identity when they match)."""
        if tts.sample_rate == self.sample_rate:
            return lambda chunk: [chunk]
        from livekit import rtc

        resampler = rtc.AudioResampler(tts.sample_rate, self.sample_rate,
                                       num_channels=self.num_channels)
        rate, channels = self.sample_rate, self.num_channels

        def convert(chunk: SynthesizedAudio) -> list[SynthesizedAudio]:
            frames = resampler.push(chunk.frame.to_rtc())
            if chunk.is_final:
                frames += resampler.flush()
            pcm = [np.frombuffer(bytes(f.data), dtype=np.int16) for f in frames]
            data = np.concatenate(pcm) if pcm else np.zeros(0, dtype=np.int16)
            frame = AudioFrame(data, rate, channels, chunk.frame.timestamp)
            return [replace(chunk, frame=frame)]

        return convert

    def _probe(self, tts: TTS, text: str) -> Callable[[], Any]:
        once = self.chain.probe_options

        async def probe() -> None:
            async for _ in tts.synthesize(text, conn_options=once):
                pass

        return probe

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> StreamAdapterStream:
        # no retries around the chain: each TTS is already retried in synthesize()
        return StreamAdapter(self).stream(conn_options=APIConnectOptions(max_retry=0,
                                                                          timeout=1e9))

    async def aclose(self) -> None:
        """Stop the recovery probes (the wrapped TTSs are owned by the caller)."""
        await self.chain.aclose()
