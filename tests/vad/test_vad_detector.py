"""SpeechDetector: when speech starts and ends, given per-window probabilities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowagents.types import VADEvent, VADEventType
from flowagents.vad import VADOptions
from flowagents.vad.detector import SpeechDetector

WINDOW = 0.032  # 512 samples at 16 kHz
OPTS = VADOptions()  # min speech 0.05 s, min silence 0.55 s, threshold 0.5


def run(probs: list[float], options: VADOptions = OPTS, t0: float = 0.0) -> list[VADEvent]:
    detector = SpeechDetector(options)
    events: list[VADEvent] = []
    for i, p in enumerate(probs):
        events += detector.update(p, t0 + (i + 1) * WINDOW, WINDOW)
    return events + detector.flush()


def transitions(events: list[VADEvent]) -> list[VADEvent]:
    return [e for e in events if e.type is not VADEventType.INFERENCE_DONE]


def test_one_inference_event_per_window() -> None:
    events = run([0.0, 0.9, 0.1])
    done = [e for e in events if e.type is VADEventType.INFERENCE_DONE]
    assert [e.timestamp for e in done] == pytest.approx([WINDOW, 2 * WINDOW, 3 * WINDOW])
    assert [e.probability for e in done] == [0.0, 0.9, 0.1]


def test_speech_starts_after_min_speech_dated_back_to_its_onset() -> None:
    # 10 silent windows, then speech: 0.05 s needs two 32 ms windows.
    events = transitions(run([0.0] * 10 + [0.9] * 3))
    start = events[0]
    assert start.type is VADEventType.START_OF_SPEECH
    assert start.timestamp == pytest.approx(10 * WINDOW)  # when speech began, not when decided
    assert start.speech_duration == pytest.approx(2 * WINDOW)


def test_a_single_loud_window_is_not_speech() -> None:
    assert transitions(run([0.0, 0.9, 0.0, 0.0, 0.9, 0.0])) == []


def test_speech_ends_after_min_silence_dated_back_to_when_silence_began() -> None:
    probs = [0.9] * 20 + [0.0] * 30  # 30 windows = 0.96 s of silence > 0.55 s
    events = transitions(run(probs))
    assert [e.type for e in events] == [VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH]
    end = events[1]
    assert end.timestamp == pytest.approx(20 * WINDOW)
    assert end.speech_duration == pytest.approx(20 * WINDOW)
    assert end.silence_duration == pytest.approx(18 * WINDOW)  # ceil(0.55 / 0.032) windows


def test_a_pause_shorter_than_min_silence_keeps_one_segment() -> None:
    probs = [0.9] * 10 + [0.0] * 10 + [0.9] * 10 + [0.0] * 20
    events = transitions(run(probs))
    assert [e.type for e in events] == [VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH]
    assert events[1].timestamp == pytest.approx(30 * WINDOW)


def test_hysteresis_keeps_speaking_just_under_the_activation_threshold() -> None:
    probs = [0.9] * 5 + [0.4] * 30 + [0.0] * 20
    events = transitions(run(probs))
    assert events[1].type is VADEventType.END_OF_SPEECH
    assert events[1].timestamp == pytest.approx(35 * WINDOW)


def test_flush_closes_an_open_segment_where_silence_began() -> None:
    events = transitions(run([0.9] * 10 + [0.0] * 5))
    assert [e.type for e in events] == [VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH]
    assert events[1].timestamp == pytest.approx(10 * WINDOW)


def test_inference_events_carry_the_state_after_the_window() -> None:
    events = run([0.9, 0.9, 0.9])
    done = [e for e in events if e.type is VADEventType.INFERENCE_DONE]
    assert [e.speaking for e in done] == [False, True, True]
    assert done[2].speech_duration == pytest.approx(3 * WINDOW)


def test_each_update_returns_its_events_in_time_order() -> None:
    detector = SpeechDetector(OPTS)
    batches = [detector.update(p, 100.0 + (i + 1) * WINDOW, WINDOW)
               for i, p in enumerate([0.0] * 3 + [0.9] * 10 + [0.0] * 20)]
    for batch in batches:
        times = [e.timestamp for e in batch]
        assert times == sorted(times)
    assert min(e.timestamp for b in batches for e in b) > 100.0


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=200))
def test_starts_and_ends_alternate_and_always_close(probs: list[float]) -> None:
    kinds = [e.type for e in transitions(run(probs))]
    assert kinds == [VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH] * (len(kinds) // 2)
    assert len(kinds) % 2 == 0


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=200))
def test_segments_honour_min_speech_and_do_not_overlap(probs: list[float]) -> None:
    events = transitions(run(probs))
    last_end = -1.0
    for start, end in zip(events[::2], events[1::2], strict=True):
        assert start.timestamp >= last_end - 1e-9
        assert end.timestamp - start.timestamp >= OPTS.min_speech_duration - 1e-9
        last_end = end.timestamp
