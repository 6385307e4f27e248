"""STT stream adapter: VAD segments with pre-roll, transcribed in order, events in order."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from flowagents.errors import APIConnectionError
from flowagents.runtime import run_virtual
from flowagents.stt import StreamAdapter
from flowagents.types import AudioFrame
from flowagents.vad import VADOptions

from .fakes import FakeSTT, FakeVAD

FRAME = 0.1


def _audio(segments: list[tuple[float, float]], total: float) -> list[AudioFrame]:
    """0.1 s frames over ``total`` seconds, voiced inside the ``(start, end)`` segments."""
    frames = []
    for i in range(round(total / FRAME)):
        t = round(i * FRAME, 6)
        voiced = any(s <= t < e for s, e in segments)
        data = np.full(1600, 1000 if voiced else 0, dtype=np.int16)
        frames.append(AudioFrame(data, 16000, timestamp=t))
    return frames


def _run(stt: FakeSTT, frames: list[AudioFrame], *, flush_at: float | None = None
         ) -> list[tuple[float, str, float, str]]:
    vad = FakeVAD(VADOptions(min_speech_duration=0.1, min_silence_duration=0.3,
                             prefix_padding=0.2))

    async def main() -> list[tuple[float, str, float, str]]:
        loop = asyncio.get_running_loop()
        stream = StreamAdapter(stt, vad).stream()
        out: list[tuple[float, str, float, str]] = []

        async def feed() -> None:
            for frame in frames:
                await asyncio.sleep(frame.end_time - loop.time())  # real-time pacing
                stream.push_frame(frame)
                if flush_at is not None and abs(frame.end_time - flush_at) < 1e-6:
                    stream.flush()
            stream.end_input()

        feeder = asyncio.create_task(feed())
        try:
            async for ev in stream:
                out.append((round(loop.time(), 6), ev.type.name, round(ev.timestamp, 6), ev.text))
        finally:
            await feeder
            await stream.aclose()
        return out

    return run_virtual(main())


def test_segments_with_pre_roll_transcribed_in_order() -> None:
    stt = FakeSTT(delay=0.5)
    out = _run(stt, _audio([(1.0, 2.0), (2.5, 3.0)], 5.0))
    # speech 1.0-2.0: start decided at 1.1, end at 2.3 (0.3 s of silence), dated back to 2.0;
    # the segment has 0.2 s of pre-roll + 1.0 s of speech + 0.3 s of silence = 15 frames.
    # Speech 2.5-3.0 starts at 2.6 but is reported after the first segment's end (2.8); it ends
    # at 3.3 (dated 3.0): 0.2 + 0.5 + 0.3 s = 10 frames, recognized by 3.8.
    assert [(t, kind, ts, text) for t, kind, ts, text in out] == [
        (1.1, "START_OF_SPEECH", 1.0, ""),
        (2.8, "FINAL_TRANSCRIPT", 2.8, "fake_stt:15"),
        (2.8, "END_OF_SPEECH", 2.0, ""),
        (2.8, "START_OF_SPEECH", 2.5, ""),
        (3.8, "FINAL_TRANSCRIPT", 3.8, "fake_stt:10"),
        (3.8, "END_OF_SPEECH", 3.0, ""),
    ]
    assert [n for n, _ in stt.calls] == [15, 10]


def test_silence_only_and_empty_transcripts_emit_no_final() -> None:
    assert _run(FakeSTT(), _audio([], 2.0)) == []
    out = _run(FakeSTT(text="  ", delay=0.1), _audio([(0.5, 1.0)], 2.0))
    assert [kind for _, kind, _, _ in out] == ["START_OF_SPEECH", "END_OF_SPEECH"]


def test_flush_and_end_input_close_an_open_segment() -> None:
    stt = FakeSTT(delay=0.1)
    out = _run(stt, _audio([(0.5, 3.0)], 2.0), flush_at=1.5)
    # flushed at 1.5 (segment 0.3-1.5 with its pre-roll), then the VAD restarts: speech resumes
    # at 1.5 (start decided at 1.6) and end_input closes it at 2.0
    assert [(kind, text) for _, kind, _, text in out] == [
        ("START_OF_SPEECH", ""), ("FINAL_TRANSCRIPT", "fake_stt:12"), ("END_OF_SPEECH", ""),
        ("START_OF_SPEECH", ""), ("FINAL_TRANSCRIPT", "fake_stt:5"), ("END_OF_SPEECH", "")]


def test_recognition_is_retried_then_the_error_ends_the_stream() -> None:
    stt = FakeSTT(delay=0.1, fail=1)
    out = _run(stt, _audio([(0.5, 1.0)], 2.0))
    assert [kind for _, kind, _, _ in out] == [
        "START_OF_SPEECH", "FINAL_TRANSCRIPT", "END_OF_SPEECH"]
    assert len(stt.calls) == 2
    with pytest.raises(APIConnectionError):
        _run(FakeSTT(delay=0.1, fail=10), _audio([(0.5, 1.0)], 2.0))
