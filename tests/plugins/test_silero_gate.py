"""SileroVADStream's silence level: which windows of a long silence go unscored, and what that
does to the speech Silero finds.

The first tests replace the model by a script of per-window probabilities (as in
``test_silero_stream``), so the windows scored and the events are exact: 20 ms frames at 16 kHz
(320 samples), 512-sample windows, ``_ARM`` (94) quiet windows scored in a row before any is
skipped. The last test runs the real model on the two spoken clips of ``examples/audio`` at
reduced gain over digital silence and over a +-3 step hiss, with and without the level.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowagents.plugins import silero
from flowagents.plugins.silero import SileroVAD, SileroVADStream
from flowagents.types import AudioFrame, VADEvent, VADEventType
from flowagents.vad import VADOptions

FRAME = 320  # 20 ms at 16 kHz
ARM = silero._ARM
AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"


def feed(stream: SileroVADStream, pcm: np.ndarray[Any, Any]) -> list[VADEvent]:
    events: list[VADEvent] = []
    for i in range(0, pcm.size - FRAME + 1, FRAME):
        events += stream.process(AudioFrame(pcm[i:i + FRAME], 16000, timestamp=i / 16000))
    return events


def speech_in(*runs: tuple[int, int]) -> Callable[[int], float]:
    return lambda w: 0.9 if any(a <= w < b for a, b in runs) else 0.1


class CountingModel:
    """Silero's interface, scripted by window index: the input puts each window's index in its
    first sample (in 16-bit steps), so the model knows which window it reads."""

    def __init__(self, probability: Callable[[int], float] = lambda w: 0.0) -> None:
        self.probability = probability
        self.scored: list[int] = []

    def process(self, window: Any) -> float:
        w = round(float(np.ctypeslib.as_array(window)[0]) * 32768)
        self.scored.append(w)
        return self.probability(w)


def indexed_silence(windows: int, level: int = 0, loud: set[int] | None = None) -> np.ndarray[
        Any, Any]:
    """``windows`` windows whose first sample is the window's index; the others are ``level``
    (or 2000 in the ``loud`` windows). Under a level of 1000, only the loud ones are not
    quiet."""
    pcm = np.full(windows * 512, level, np.int16)
    for w in loud or ():
        pcm[w * 512:(w + 1) * 512] = 2000
    pcm[::512] = np.arange(windows)
    return pcm


def test_after_three_seconds_below_the_level_windows_are_skipped_and_read_as_silence() -> None:
    model = CountingModel()
    stream = SileroVADStream(model, VADOptions(), idle_batch=10, idle_after=3.0,
                             silence_level=1000)
    events = feed(stream, indexed_silence(300))
    inference = [e for e in events if e.type is VADEventType.INFERENCE_DONE]
    # 300 windows of 0 to 299 steps; the first ARM (94) are scored, then every one below 1000
    # is skipped: all of them (the stream starts in its long silence: nobody spoke yet)
    assert model.scored == list(range(ARM))
    whole = (300 * 512 // FRAME) * FRAME // 512  # the windows the frames made whole
    assert len(inference) == whole - whole % 10  # scored or not, every window is accounted for
    assert [e.timestamp for e in inference] == pytest.approx(
        [(w + 1) * 0.032 for w in range(len(inference))])
    assert all(e.probability == 0.0 for e in inference[ARM:])


def test_a_window_at_the_level_is_scored_and_skipping_waits_for_three_more_seconds() -> None:
    model = CountingModel()
    stream = SileroVADStream(model, VADOptions(), idle_batch=10, idle_after=3.0,
                             silence_level=1000)
    feed(stream, indexed_silence(400, loud={150}))
    # 0-93 scored (arming), 94-149 skipped, 150 (2000 steps) scored, 151-244 scored (arming
    # again), 245 on skipped
    assert model.scored == [*range(ARM), 150, *range(151, 151 + ARM)]


def test_no_window_is_skipped_in_speech_or_within_idle_after_of_its_end() -> None:
    # windows 100-139 are speech (by the script) though as quiet as the rest: the detector
    # 0-93 are scored (arming: the stream starts in a long silence), 94-99 skipped; window
    # 100 is loud: scored. The detector speaks from window 101 to the end decided on window
    # 157 (18 silent windows); the grace runs 3 s (93.75 windows) from the end of window 156,
    # the last heard as speech: to window 249; then ARM windows of arming, then skipping
    model = CountingModel(speech_in((100, 140)))
    stream = SileroVADStream(model, VADOptions(), idle_batch=10, idle_after=3.0,
                             silence_level=1000)
    events = feed(stream, indexed_silence(420, loud=set(range(100, 140))))
    kinds = [(e.type.name, round(e.timestamp, 3)) for e in events
             if e.type is not VADEventType.INFERENCE_DONE]
    assert kinds == [("START_OF_SPEECH", 3.2), ("END_OF_SPEECH", 4.48)]
    assert model.scored == [*range(ARM), *range(100, 250 + ARM)]


def test_level_zero_scores_every_window_and_bad_levels_are_refused() -> None:
    model = CountingModel()
    stream = SileroVADStream(model, VADOptions(), idle_batch=10, idle_after=3.0,
                             silence_level=0)
    feed(stream, np.zeros(300 * 512, np.int16))
    assert len(model.scored) == (300 * 512 // FRAME) * FRAME // 512 // 10 * 10
    with pytest.raises(ValueError, match="silence_level"):
        SileroVAD(silence_level=-1)
    with pytest.raises(ValueError, match="silence_level"):
        SileroVAD(silence_level=40000)
    assert SileroVAD().silence_level == 8


def segments(vad: SileroVAD, pcm: np.ndarray[Any, Any]) -> tuple[list[tuple[float, float]], int]:
    """The speech segments the VAD finds in 20 ms frames of ``pcm``, and the windows scored."""
    stream = vad.stream()
    model = stream._model
    scored = [0]

    class Counted:
        def process(self, window: Any) -> float:
            scored[0] += 1
            return float(model.process(window))

    stream._model = Counted()
    events = [*feed(stream, pcm), *stream.flush()]
    found, start = [], 0.0
    for e in events:
        if e.type is VADEventType.START_OF_SPEECH:
            start = e.timestamp
        elif e.type is VADEventType.END_OF_SPEECH:
            found.append((start, e.timestamp))
    return found, scored[0]


@pytest.mark.parametrize("clip", ["hello.wav", "question.wav"])
def test_quiet_speech_after_a_long_silence_is_found_as_without_the_level(clip: str) -> None:
    from flowagents.cli.console_io import read_wav

    speech = read_wav(str(AUDIO / clip), 16000)  # peaks near full scale
    for hiss in (0, 3):
        for gain_db in (0, -20, -30, -40):  # -40 dB: peaks of 300 steps, -60 dBFS RMS
            quiet = np.round(speech * 10 ** (gain_db / 20)).astype(np.int16)
            # 4 s of silence, the clip, 9 s of silence (3 s of grace after the end of speech,
            # 3 s of arming, 3 s skipped), the clip again, 2 s
            gap = np.zeros(9 * 16000, np.int16)
            pcm = np.concatenate([gap[:4 * 16000], quiet, gap, quiet, gap[:2 * 16000]])
            rng = np.random.default_rng(hiss - gain_db)
            pcm = (pcm + rng.integers(-hiss, hiss + 1, pcm.size)).astype(np.int16)
            plain, every = segments(SileroVAD(silence_level=0), pcm)
            gated, fewer = segments(SileroVAD(), pcm)
            case = f"{clip} at {gain_db} dB, hiss {hiss}: {plain} / {gated}"
            assert fewer < every - 100, case  # the level skipped windows in both silences
            assert len(plain) == 2, case  # Silero hears both utterances at these levels
            assert len(gated) == len(plain), case
            for (s0, e0), (s1, e1) in zip(plain, gated, strict=True):
                # the model's state is kept, not fed the skipped silence, so its answer may
                # move a little: by at most two windows here. Silero alone moves these starts
                # and ends by up to 0.17 s when the silence before them lasts 7 s, not 4 s.
                assert abs(s1 - s0) <= 0.065, case
                assert abs(e1 - e0) <= 0.065, case
