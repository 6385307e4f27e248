"""Audio on the wire for the hosted providers: a segment as a WAV file, PCM bytes as frames.

Services take a segment as a 16-bit WAV file (written by ``soundfile``) and stream synthesized
speech back as raw 16-bit little-endian PCM in pieces cut anywhere, even inside a sample;
:class:`PCMChunker` keeps the odd byte for the next piece so every frame holds whole samples.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import soundfile

from flowagents.types import AudioFrame

__all__ = ["PCMChunker", "wav_bytes"]


def wav_bytes(frames: Sequence[AudioFrame]) -> bytes:
    """The frames as one 16-bit WAV file at the first frame's rate and channel count."""
    buffer = io.BytesIO()
    rate = frames[0].sample_rate if frames else 16000
    channels = frames[0].num_channels if frames else 1
    pcm = (np.concatenate([f.data for f in frames]) if frames
           else np.zeros(0, dtype=np.int16)).reshape(-1, channels)
    soundfile.write(buffer, pcm, rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


class PCMChunker:
    """Bytes of 16-bit little-endian PCM in, frames of whole samples out."""

    __slots__ = ("num_channels", "pending", "sample_rate")

    def __init__(self, sample_rate: int, num_channels: int = 1) -> None:
        self.sample_rate = sample_rate
        self.num_channels = num_channels
        self.pending = b""

    def push(self, data: bytes) -> AudioFrame | None:
        """A frame of the whole samples received so far (None if there is none yet)."""
        data = self.pending + data if self.pending else data
        width = 2 * self.num_channels
        whole = len(data) - len(data) % width
        self.pending = data[whole:]
        if not whole:
            return None
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.int16, copy=False)
        return AudioFrame(samples, self.sample_rate, self.num_channels)
