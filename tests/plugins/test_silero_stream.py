"""SileroVADStream around its model: which samples the model reads, and at which frame each
speech decision is made when idle windows are scored in batches.

The model is replaced by a script of per-window probabilities (the stream takes any object with
Silero's ``process(window)``), so the frame of every decision is exact. 20 ms frames at 16 kHz are
320 samples; a window is 512 samples (32 ms): window ``w`` is whole once ``(w + 1) * 512``
samples have arrived, i.e. in frame ``ceil((w + 1) * 512 / 320) - 1``. Speech starts on its
second window (``min_speech_duration`` 0.05 s) and ends on the 18th silent one (0.55 s).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import soxr

from flowagents.plugins.silero import SileroVAD, SileroVADStream
from flowagents.types import AudioFrame, VADEvent, VADEventType
from flowagents.vad import VADOptions

FRAME = 320  # 20 ms at 16 kHz
INFERENCE = VADEventType.INFERENCE_DONE


class ScriptedModel:
    """Silero's interface: ``process(window) -> probability``; records what it read."""

    def __init__(self, probability: Callable[[int], float] = lambda w: 0.0) -> None:
        self.probability = probability
        self.windows: list[np.ndarray[Any, np.dtype[np.float32]]] = []

    def process(self, window: Any) -> float:
        self.windows.append(np.ctypeslib.as_array(window).copy())
        return self.probability(len(self.windows) - 1)


def speech_in(*runs: tuple[int, int]) -> Callable[[int], float]:
    return lambda w: 0.9 if any(a <= w < b for a, b in runs) else 0.1


def decisions(stream: SileroVADStream, frames: int) -> list[tuple[int, str, float]]:
    """(frame index, event, dated time) of every start and end of speech over silent frames."""
    out = []
    silence = np.zeros(FRAME, np.int16)
    for f in range(frames):
        for e in stream.process(AudioFrame(silence, 16000, timestamp=f * 0.02)):
            if e.type is not INFERENCE:
                out.append((f, e.type.name, round(e.timestamp, 6)))
    return out


# speech in windows 36-79, 117-149 (0.5 s after the first end) and 300-329 (long after)
SCRIPT = speech_in((36, 80), (117, 150), (300, 330))
# scored one window at a time: start on window 37 (frame 60) dated 36 * 0.032 = 1.152 s; end on
# window 97 (frame 156) dated 2.56 s; start on window 118 (frame 190); end on window 167 (frame
# 268); start on window 301 (frame 483) dated 9.6 s; end on window 347 (frame 556)
UNBATCHED = [(60, "START_OF_SPEECH", 1.152), (156, "END_OF_SPEECH", 2.56),
             (190, "START_OF_SPEECH", 3.744), (268, "END_OF_SPEECH", 4.8),
             (483, "START_OF_SPEECH", 9.6), (556, "END_OF_SPEECH", 10.56)]


def test_unbatched_decisions_fall_on_the_frames_that_complete_their_windows() -> None:
    assert decisions(SileroVADStream(ScriptedModel(SCRIPT), VADOptions()), 600) == UNBATCHED


def test_batching_delays_only_a_start_after_a_long_silence_and_keeps_its_date() -> None:
    stream = SileroVADStream(ScriptedModel(SCRIPT), VADOptions(), idle_batch=6, idle_after=3.0)
    got = decisions(stream, 600)
    # Same dates, same frames, except the two starts heard in a long silence: the first start
    # waits for the batch of windows 36-41 (whole at frame 67); the last for windows 297-302
    # (frame 484; batches resume once 3 s have passed after the end decided on window 167).
    assert got == [(67, "START_OF_SPEECH", 1.152), *UNBATCHED[1:4],
                   (484, "START_OF_SPEECH", 9.6), UNBATCHED[5]]
    for (f, kind, t), (f0, kind0, t0) in zip(got, UNBATCHED, strict=True):
        assert (kind, t) == (kind0, t0)
        # never later than the batch's other windows: (idle_batch - 1) * 512 samples
        assert f0 <= f <= f0 + -(-5 * 512 // FRAME)


def test_without_a_grace_period_a_start_soon_after_an_end_would_be_late() -> None:
    # idle_after=0 batches right after the end of speech: the start on window 118 then waits for
    # windows 116-121 (frame 195) instead of frame 190. This is what ``idle_after`` prevents.
    stream = SileroVADStream(ScriptedModel(SCRIPT), VADOptions(), idle_batch=6, idle_after=0.0)
    got = decisions(stream, 300)
    assert got[2] == (195, "START_OF_SPEECH", 3.744)
    assert [g[1:] for g in got] == [u[1:] for u in UNBATCHED[:4]]


def test_idle_windows_are_scored_six_a_batch_and_inference_events_keep_their_times() -> None:
    model = ScriptedModel()
    stream = SileroVADStream(model, VADOptions(), idle_batch=6, idle_after=3.0)
    counts = []
    events: list[VADEvent] = []
    for f in range(20):
        out = stream.process(AudioFrame(np.zeros(FRAME, np.int16), 16000, timestamp=f * 0.02))
        counts.append(len(out))
        events += out
    assert counts == [0] * 9 + [6] + [0] * 9 + [6]  # windows 0-5 at frame 9, 6-11 at frame 19
    assert [e.type for e in events] == [INFERENCE] * 12
    assert [e.timestamp for e in events] == pytest.approx([(w + 1) * 0.032 for w in range(12)])
    assert [e.type for e in stream.flush()] == []  # 6400 - 12 * 512 = 256 samples: no window
    assert len(model.windows) == 12


def test_flush_scores_the_windows_held_back_and_ends_open_speech() -> None:
    stream = SileroVADStream(ScriptedModel(speech_in((0, 100))), VADOptions(), idle_batch=6)
    assert decisions(stream, 3) == []  # 960 samples: one whole window, held back
    assert [e.type for e in stream.flush()] == [INFERENCE]  # one speech window is no start yet
    stream = SileroVADStream(ScriptedModel(speech_in((0, 100))), VADOptions(), idle_batch=6)
    assert decisions(stream, 4) == []  # 1280 samples: two whole windows, held back
    flushed = stream.flush()
    assert [e.type for e in flushed] == [INFERENCE, VADEventType.START_OF_SPEECH, INFERENCE,
                                         VADEventType.END_OF_SPEECH]
    assert flushed[1].timestamp == 0.0


@pytest.mark.parametrize("idle_batch", [1, 6])
def test_the_model_reads_the_input_scaled_in_order_whatever_the_frame_sizes(
        idle_batch: int) -> None:
    rng = np.random.default_rng(7)
    sizes = [160, 320, 441, 512, 1000, 7, 320, 960] * 4
    pcm = (rng.standard_normal(sum(sizes)) * 8000).clip(-32768, 32767).astype(np.int16)
    model = ScriptedModel()
    stream = SileroVADStream(model, VADOptions(), idle_batch=idle_batch)
    pos = 0
    for n in sizes:
        stream.process(AudioFrame(pcm[pos:pos + n], 16000, timestamp=pos / 16000))
        pos += n
    stream.flush()
    whole = pcm.size // 512
    assert len(model.windows) == whole
    np.testing.assert_array_equal(np.concatenate(model.windows),
                                  pcm[:whole * 512].astype(np.float32) / 32768)


def test_stereo_is_downmixed_and_48khz_resampled_by_one_stream() -> None:
    rng = np.random.default_rng(3)
    mono = (rng.standard_normal(48000) * 6000).astype(np.int16)
    stereo = np.repeat(mono, 2)  # both channels the same: the downmix is the input itself
    model = ScriptedModel()
    stream = SileroVADStream(model, VADOptions(), idle_batch=6)
    for i in range(0, 48000, 960):
        stream.process(AudioFrame(stereo[2 * i:2 * (i + 960)], 48000, 2, timestamp=i / 48000))
    stream.flush()
    expected_stream = soxr.ResampleStream(48000, 16000, 1, dtype="int16")
    expected = np.concatenate([expected_stream.resample_chunk(mono[i:i + 960])
                               for i in range(0, 48000, 960)])
    got = np.concatenate(model.windows)
    assert got.size == (expected.size // 512) * 512
    # soxr dithers its int16 output: two streams differ by up to two least significant bits
    np.testing.assert_allclose(got, expected[:got.size].astype(np.float32) / 32768,
                               rtol=0, atol=2.5 / 32768)


def test_bad_batching_options_are_refused() -> None:
    with pytest.raises(ValueError, match="idle_batch"):
        SileroVAD(idle_batch=0)
    with pytest.raises(ValueError, match="idle_after"):
        SileroVAD(idle_after=-1.0)


def test_a_start_in_a_long_silence_is_decided_before_a_barge_in_could_be() -> None:
    # every phase of a speech onset against the batches of 10 windows and the 20 ms frames
    for onset in range(40, 60):
        unbatched = decisions(SileroVADStream(ScriptedModel(speech_in((onset, onset + 30))),
                                              VADOptions()), 200)
        batched = decisions(SileroVADStream(ScriptedModel(speech_in((onset, onset + 30))),
                                            VADOptions(), idle_batch=10, idle_after=3.0), 200)
        assert [b[1:] for b in batched] == [u[1:] for u in unbatched]
        (frame, _, start), (frame0, _, _) = batched[0], unbatched[0]
        assert start == round(onset * 0.032, 6)
        assert frame0 <= frame <= frame0 + -(-9 * 512 // FRAME)
        decided = (frame + 1) * 0.02  # the end of the frame that decided it
        # 64 ms of speech, up to 9 windows held back, a frame: under min_interruption_duration
        assert decided - start <= 0.064 + 9 * 0.032 + 0.02 + 1e-9 < 0.5
        assert batched[1] == unbatched[1]  # the end: same frame, same date
