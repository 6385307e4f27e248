"""Resampler: convert audio to the sample rate a model expects, on LiveKit's sox resampler.

Rooms deliver 48 kHz, VAD and STT models want 16 kHz. ``audio.pipe(resample(16000))`` feeds each
frame to a ``livekit.rtc.AudioResampler`` (libsoxr through the LiveKit FFI, in-process, no thread)
and emits what it returns: frames of irregular size, sometimes none for an input frame (chunk them
afterwards if a model needs fixed windows). Frames already at the target rate pass through
untouched (the same object).

Timestamps stay on the session clock: a *run* of contiguous input is anchored at its first
frame's timestamp, and each output frame is stamped ``anchor + samples emitted so far / rate``
(sox compensates its filter delay, so output sample ``k`` is input time ``anchor + k / rate``).
A frame whose timestamp is more than ``resync_threshold`` away from where the run expects it (a
gap in gated audio, a clock jump), or a change of input rate or channel count, ends the run: the
resampler is flushed (its tail is emitted on the old timeline) and a new run starts at that frame.
Smaller jitter in the input stamps is ignored: the sample count is the better clock. The
resampler is flushed on completion too, so no audio is lost at the end of a stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
from livekit import rtc
from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.runtime.bridge import Dispose
from flowagents.types import AudioFrame

__all__ = ["Quality", "Resampler", "ResamplerConfig", "resample"]

Quality = Literal["quick", "low", "medium", "high", "very_high"]


def resample(sample_rate: int = 16000, *, quality: Quality = "medium",
             resync_threshold: float = 0.1,
             ) -> Callable[[Observable[AudioFrame]], Observable[AudioFrame]]:
    """Emit the audio at ``sample_rate``, timestamps on the session clock (see module doc)."""
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    if resync_threshold < 0:
        raise ValueError("resync_threshold must be >= 0")
    rtc_quality = rtc.AudioResamplerQuality(quality)

    def _resample(source: Observable[AudioFrame]) -> Observable[AudioFrame]:
        def subscribe(observer: abc.ObserverBase[AudioFrame],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            resampler: rtc.AudioResampler | None = None
            in_rate = 0
            channels = 0
            anchor = 0.0  # session time of the run's first input sample
            pushed = 0  # input samples per channel pushed in this run
            emitted = 0  # output samples per channel emitted in this run

            def emit(frames: list[rtc.AudioFrame]) -> None:
                nonlocal emitted
                for out in frames:
                    data = np.frombuffer(out.data, dtype=np.int16)
                    if data.shape[0] == 0:
                        continue
                    observer.on_next(AudioFrame(data, sample_rate, channels,
                                                anchor + emitted / sample_rate))
                    emitted += data.shape[0] // channels

            def end_run() -> None:
                nonlocal resampler
                if resampler is not None:
                    tail = resampler.flush()
                    resampler = None
                    emit(tail)

            def on_next(frame: AudioFrame) -> None:
                nonlocal resampler, in_rate, channels, anchor, pushed, emitted
                if frame.sample_rate == sample_rate:
                    end_run()
                    observer.on_next(frame)
                    return
                if (resampler is None or frame.sample_rate != in_rate
                        or frame.num_channels != channels
                        or abs(frame.timestamp - (anchor + pushed / in_rate)) > resync_threshold):
                    end_run()
                    resampler = rtc.AudioResampler(frame.sample_rate, sample_rate,
                                                   num_channels=frame.num_channels,
                                                   quality=rtc_quality)
                    in_rate, channels = frame.sample_rate, frame.num_channels
                    anchor, pushed, emitted = frame.timestamp, 0, 0
                pushed += frame.samples_per_channel
                emit(resampler.push(bytearray(frame.data)))

            def on_completed() -> None:
                end_run()
                observer.on_completed()

            def release() -> None:
                nonlocal resampler
                resampler = None

            return CompositeDisposable(
                source.subscribe(on_next, observer.on_error, on_completed), Dispose(release))

        return Observable(subscribe)

    return _resample


class ResamplerConfig(NodeConfig):
    sample_rate: int = Field(16000, gt=0, description="output sample rate (Hz)")
    quality: Quality = Field("medium", description="sox quality recipe")
    resync_threshold: float = Field(
        0.1, ge=0.0, description="timestamp jump (s) that starts a new run (a gap in the input)")


class Resampler(Node):
    """Audio at a fixed sample rate (see :func:`resample`)."""

    Config = ResamplerConfig
    inputs = (In("audio", AudioFrame),)
    outputs = (Out("audio", AudioFrame),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ResamplerConfig)
        op = resample(cfg.sample_rate, quality=cfg.quality,
                      resync_threshold=cfg.resync_threshold)
        return {"audio": inputs["audio"].pipe(op)}
