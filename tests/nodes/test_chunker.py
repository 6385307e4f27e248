"""The chunker re-cuts audio into fixed windows, losing, duplicating and mis-dating nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reactivex.subject import Subject

from flowagents.types import AudioFrame
from nodes.audio.chunker import Chunker, chunk


def run(frames: list[AudioFrame], n: int, remainder: str = "pad") -> list[AudioFrame]:
    source: Subject[AudioFrame] = Subject()
    out: list[AudioFrame] = []
    done: list[bool] = []
    source.pipe(chunk(n, remainder=remainder)).subscribe(out.append,
                                                         on_completed=lambda: done.append(True))
    for f in frames:
        source.on_next(f)
    source.on_completed()
    assert done == [True]
    return out


def contiguous(sizes: list[int], rate: int = 16000, channels: int = 1,
               t0: float = 3.0) -> tuple[list[AudioFrame], np.ndarray]:
    """Frames of the given sizes (per channel) cut from one ramp signal, stamped contiguously."""
    total = sum(sizes) * channels
    signal = (np.arange(total) % 30000).astype(np.int16)
    frames, pos = [], 0
    for size in sizes:
        k = size * channels
        frames.append(AudioFrame(signal[pos:pos + k], rate, channels,
                                 t0 + pos / (channels * rate)))
        pos += k
    return frames, signal


@given(sizes=st.lists(st.integers(1, 2000), min_size=1, max_size=40),
       n=st.sampled_from([160, 256, 512, 1000]), channels=st.sampled_from([1, 2]))
def test_every_sample_once_in_order_with_first_sample_timestamps(sizes, n, channels) -> None:
    frames, signal = contiguous(sizes, channels=channels)
    out = run(frames, n, "emit")
    assert all(f.samples_per_channel == n for f in out[:-1])
    assert 0 < out[-1].samples_per_channel <= n
    assert np.array_equal(np.concatenate([f.data for f in out]), signal)
    for i, f in enumerate(out):
        assert f.num_channels == channels
        assert f.timestamp == pytest.approx(3.0 + i * n / 16000, abs=1e-9)


def test_pad_and_drop_the_last_window() -> None:
    frames, signal = contiguous([300, 300])
    padded = run(frames, 512, "pad")
    assert [f.samples_per_channel for f in padded] == [512, 512]
    assert np.array_equal(padded[1].data[:88], signal[512:])
    assert not padded[1].data[88:].any()
    assert [f.samples_per_channel for f in run(frames, 512, "drop")] == [512]


def test_right_sized_frames_pass_untouched_and_whole_windows_are_views() -> None:
    frames, _ = contiguous([512, 1024])
    out = run(frames, 512)
    assert out[0] is frames[0]
    assert np.shares_memory(out[1].data, frames[1].data)
    assert np.shares_memory(out[2].data, frames[1].data)
    assert out[2].timestamp == pytest.approx(3.0 + 1024 / 16000)


def test_a_gap_in_the_input_shows_in_the_timestamps() -> None:
    a = AudioFrame(np.zeros(512, np.int16), 16000, 1, 1.0)
    b = AudioFrame(np.zeros(700, np.int16), 16000, 1, 5.0)
    out = run([a, b], 512, "emit")
    assert [f.timestamp for f in out] == [1.0, 5.0, 5.0 + 512 / 16000]


def test_a_format_change_closes_the_window() -> None:
    a = AudioFrame(np.ones(300, np.int16), 16000, 1, 0.0)
    b = AudioFrame(np.ones(480, np.int16), 48000, 1, 0.02)
    out = run([a, b], 160, "pad")
    assert [(f.sample_rate, f.samples_per_channel) for f in out] == [
        (16000, 160), (16000, 160), (48000, 160), (48000, 160), (48000, 160)]
    assert out[1].data[140:].sum() == 0


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunk(0)
    with pytest.raises(ValueError, match="remainder"):
        chunk(10, remainder="keep")  # type: ignore[arg-type]
    assert Chunker(samples_per_channel=256).summary() == "samples_per_channel=256"
