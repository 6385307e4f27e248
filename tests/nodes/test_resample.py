"""The resampler: right rate, right pitch, no lost tail, timestamps on the session clock."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from reactivex.subject import Subject

from flowagents.types import AudioFrame
from nodes.audio.resample import Resampler, resample


def tone(seconds: float, rate: int, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (10000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return np.repeat(mono, channels) if channels > 1 else mono


def frames_of(signal: np.ndarray, rate: int, per_frame: int, t0: float = 0.0,
              channels: int = 1) -> list[AudioFrame]:
    step = per_frame * channels
    return [AudioFrame(signal[i:i + step], rate, channels, t0 + i / (channels * rate))
            for i in range(0, signal.shape[0], step)]


def run(frames: list[AudioFrame], **options) -> tuple[list[AudioFrame], bool]:
    source: Subject[AudioFrame] = Subject()
    out: list[AudioFrame] = []
    done: list[bool] = []
    source.pipe(resample(**options)).subscribe(out.append, on_completed=lambda: done.append(True))
    for f in frames:
        source.on_next(f)
    source.on_completed()
    return out, bool(done)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(samples.shape[0], 1 / rate)[int(np.argmax(spectrum))])


def test_48k_to_16k_keeps_pitch_length_and_a_contiguous_timeline() -> None:
    threads = threading.active_count()
    out, done = run(frames_of(tone(1.0, 48000), 48000, 960, t0=7.0), sample_rate=16000)
    assert done
    assert threading.active_count() == threads
    assert all(f.sample_rate == 16000 and f.num_channels == 1 for f in out)
    total = sum(f.samples_per_channel for f in out)
    assert total == 16000  # the flush on completion delivers the filter's tail
    emitted = 0
    for f in out:
        assert f.timestamp == pytest.approx(7.0 + emitted / 16000, abs=1e-9)
        emitted += f.samples_per_channel
    assert peak_hz(np.concatenate([f.data for f in out]), 16000) == pytest.approx(440, abs=2)


def test_upsampling_stereo() -> None:
    out, _ = run(frames_of(tone(0.5, 16000, channels=2), 16000, 160, channels=2),
                 sample_rate=48000, quality="high")
    data = np.concatenate([f.data for f in out])
    assert all(f.num_channels == 2 for f in out)
    assert data.shape[0] == 2 * 24000
    assert np.abs(data[0::2].astype(int) - data[1::2]).max() <= 4  # sox dithers per channel
    assert peak_hz(data[0::2], 48000) == pytest.approx(440, abs=3)


def test_frames_at_the_target_rate_pass_untouched() -> None:
    frames = frames_of(tone(0.1, 16000), 16000, 320)
    out, _ = run(frames, sample_rate=16000)
    assert all(a is b for a, b in zip(out, frames, strict=True))


def test_a_gap_starts_a_new_run_at_the_new_timestamp() -> None:
    first = frames_of(tone(0.2, 48000), 48000, 480, t0=1.0)
    second = frames_of(tone(0.2, 48000), 48000, 480, t0=3.0)
    jittered = [f.with_timestamp(f.timestamp + 0.004) for f in second[1:]]
    out, _ = run(first + second[:1] + jittered, sample_rate=16000)
    assert sum(f.samples_per_channel for f in out) == 2 * 3200
    before = [f for f in out if f.timestamp < 2.0]
    after = [f for f in out if f.timestamp >= 2.0]
    assert sum(f.samples_per_channel for f in before) == 3200
    assert after[0].timestamp == 3.0
    emitted = 0
    for f in after:  # the 4 ms jitter does not bend the timeline
        assert f.timestamp == pytest.approx(3.0 + emitted / 16000, abs=1e-9)
        emitted += f.samples_per_channel


def test_a_rate_change_flushes_the_old_run() -> None:
    a = frames_of(tone(0.1, 48000), 48000, 480)
    b = frames_of(tone(0.1, 16000), 16000, 160, t0=0.1)
    c = frames_of(tone(0.1, 24000), 24000, 240, t0=0.2)
    out, _ = run(a + b + c, sample_rate=16000)
    assert sum(f.samples_per_channel for f in out) == 3 * 1600
    assert out[-1].end_time == pytest.approx(0.3, abs=1e-9)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(0)
    with pytest.raises(ValueError):
        resample(16000, quality="best")  # type: ignore[arg-type]
    assert Resampler(sample_rate=24000).summary() == "sample_rate=24000"
