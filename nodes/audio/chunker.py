"""Chunker: re-cut audio of any frame size into frames of a fixed number of samples.

Models want fixed windows (Silero VAD scores 512 samples at 16 kHz) while rooms and resamplers
deliver 10 ms, 20 ms or odd-sized frames. ``audio.pipe(chunk(512))`` re-cuts the stream with a
numpy accumulator: whole windows inside an input frame are emitted as zero-copy views of it, and
only a window that straddles frames is copied, once, into a fresh array (frames are immutable, so
each emitted frame owns or shares read-only memory; nothing is reused behind a consumer's back).

Every output frame is stamped with the session time of its first sample: the timestamp of the
input frame that sample came from plus its offset in that frame. A change of sample rate or
channel count ends the current window early (as on completion) and starts a new one in the new
format. On completion the partial last window is padded with zeros (``"pad"``, the default, for
models that need exact sizes), emitted short (``"emit"``), or dropped (``"drop"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field
from reactivex import Observable, abc

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.types import PCM, AudioFrame

__all__ = ["Chunker", "ChunkerConfig", "Remainder", "chunk"]

Remainder = Literal["pad", "emit", "drop"]


def chunk(samples_per_channel: int = 512, *, remainder: Remainder = "pad",
          ) -> Callable[[Observable[AudioFrame]], Observable[AudioFrame]]:
    """Emit frames of exactly ``samples_per_channel`` samples per channel (see module doc)."""
    if samples_per_channel <= 0:
        raise ValueError("samples_per_channel must be positive")
    if remainder not in ("pad", "emit", "drop"):
        raise ValueError(f"remainder must be 'pad', 'emit' or 'drop', not {remainder!r}")
    n = samples_per_channel

    def _chunk(source: Observable[AudioFrame]) -> Observable[AudioFrame]:
        def subscribe(observer: abc.ObserverBase[AudioFrame],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            pending: PCM | None = None  # the window being filled
            filled = 0  # values (all channels) in ``pending``
            start = 0.0  # session time of the first sample in ``pending``
            rate = 0
            channels = 0
            size = 0  # values per window: n * channels

            def flush() -> None:
                nonlocal pending, filled
                if pending is None or filled == 0 or remainder == "drop":
                    pending, filled = None, 0
                    return
                if remainder == "pad":
                    pending[filled:] = 0
                    window = pending
                else:
                    window = pending[:filled]
                pending, filled = None, 0
                observer.on_next(AudioFrame(window, rate, channels, start))

            def on_next(frame: AudioFrame) -> None:
                nonlocal pending, filled, start, rate, channels, size
                if frame.sample_rate != rate or frame.num_channels != channels:
                    flush()
                    rate, channels = frame.sample_rate, frame.num_channels
                    size = n * channels
                data = frame.data
                total = data.shape[0]
                if total == size and pending is None:  # already the right size
                    observer.on_next(frame)
                    return
                pos = 0
                if pending is not None:
                    take = min(size - filled, total)
                    pending[filled:filled + take] = data[:take]
                    filled += take
                    pos = take
                    if filled < size:
                        return
                    window, pending, filled = pending, None, 0
                    observer.on_next(AudioFrame(window, rate, channels, start))
                per_second = channels * rate
                while total - pos >= size:
                    observer.on_next(AudioFrame(data[pos:pos + size], rate, channels,
                                                frame.timestamp + pos / per_second))
                    pos += size
                if pos < total:
                    pending = np.empty(size, dtype=np.int16)
                    filled = total - pos
                    pending[:filled] = data[pos:]
                    start = frame.timestamp + pos / per_second

            def on_completed() -> None:
                flush()
                observer.on_completed()

            return source.subscribe(on_next, observer.on_error, on_completed)

        return Observable(subscribe)

    return _chunk


class ChunkerConfig(NodeConfig):
    samples_per_channel: int = Field(512, gt=0, description="samples per channel per frame out")
    remainder: Remainder = Field("pad", description="last partial frame: pad, emit or drop")


class Chunker(Node):
    """Fixed-size audio frames out of any frame size (see :func:`chunk`)."""

    Config = ChunkerConfig
    inputs = (In("audio", AudioFrame),)
    outputs = (Out("audio", AudioFrame),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ChunkerConfig)
        return {"audio": inputs["audio"].pipe(chunk(cfg.samples_per_channel,
                                                    remainder=cfg.remainder))}
