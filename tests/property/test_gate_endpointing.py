"""Property tests of the two turn-taking rules that decide what STT hears and when a turn ends.

Gate: over random frame sizes, gaps, speech segments and VAD latencies, the gate passes exactly
the frames that arrive while the VAD says "speaking" plus, at each start, the frames buffered
since the gate last closed whose span reaches into ``[start - pre_roll, ...)``. The expected set
is computed here by index arithmetic, with no ring buffer.

Endpointing: over random timelines of VAD segments (with latencies), final transcripts during,
after and between them, and orphan transcripts, the commits are computed here window by window
(each quiet stretch between an END and the next START decides the turn it ends) and compared
exactly with what the operator emits under the TestScheduler; and every final transcript is
committed exactly once, never earlier than ``min_delay`` after the user stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from flowagents.runtime.scheduler import seconds
from flowagents.types import (
    AudioFrame,
    SpeechData,
    SpeechEvent,
    SpeechEventType,
    VADEvent,
    VADEventType,
)
from nodes.audio.gate import gate
from nodes.turn.endpointing import endpointing

START, END = VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH
RATE = 16000

# -- gate ------------------------------------------------------------------------------------


@st.composite
def gate_scripts(draw: Any) -> dict[str, Any]:
    """Frames (random sizes, sometimes a gap before one) and VAD events between them."""
    count = draw(st.integers(1, 120))
    sizes = draw(st.lists(st.integers(40, 1600), min_size=count, max_size=count))
    gaps = draw(st.lists(st.sampled_from([0, 0, 0, 0, 160, 4000]), min_size=count,
                         max_size=count))
    frames, t = [], 0
    for k, (size, gap) in enumerate(zip(sizes, gaps, strict=True)):
        t += gap
        frames.append(AudioFrame(np.full(size, k % 30000, dtype=np.int16), RATE, 1, t / RATE))
        t += size
    pre_roll = draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]))
    lookback = draw(st.sampled_from([0.0, 0.2, 1.0]))
    # Events come after frames; START is dated back by at most ``lookback``.
    after = sorted(draw(st.lists(st.integers(-1, count - 1), max_size=8)))
    events: list[tuple[int, VADEvent]] = []
    for i, j in enumerate(after):
        newest_end = frames[j].end_time if j >= 0 else 0.0
        back = draw(st.floats(0.0, lookback)) if i % 2 == 0 else draw(st.floats(0.0, 0.5))
        kind = START if i % 2 == 0 else END
        events.append((j, VADEvent(kind, max(0.0, newest_end - back))))
    return {"frames": frames, "events": events, "pre_roll": pre_roll, "lookback": lookback}


def expected_gate(frames: list[AudioFrame], events: list[tuple[int, VADEvent]],
                  pre_roll: float) -> list[int]:
    """Indices of the frames that pass, by the definition in nodes/audio/gate.py."""
    passed: list[int] = []
    closed_after = -1  # the gate buffers frames that arrive after this index
    for n in range(0, len(events), 2):
        j, start = events[n]
        j_end = events[n + 1][0] if n + 1 < len(events) else len(frames) - 1
        edge = start.timestamp - pre_roll
        passed += [k for k in range(closed_after + 1, j + 1) if frames[k].end_time > edge]
        passed += list(range(j + 1, j_end + 1))
        closed_after = j_end
    return passed


@settings(max_examples=300, deadline=None)
@given(gate_scripts())
def test_gate_passes_exactly_the_frames_inside_speech_plus_pre_roll(script: dict[str, Any],
                                                                    ) -> None:
    frames, events = script["frames"], script["events"]
    audio: Subject[AudioFrame] = Subject()
    vad: Subject[VADEvent] = Subject()
    got: list[int] = []
    audio.pipe(gate(vad, script["pre_roll"], lookback=script["lookback"])).subscribe(
        lambda f: got.append(int(f.data[0])))
    pending = list(events)
    for _, event in [e for e in pending if e[0] == -1]:
        vad.on_next(event)
    for k, frame in enumerate(frames):
        audio.on_next(frame)
        for _, event in [e for e in pending if e[0] == k]:
            vad.on_next(event)
    assert got == expected_gate(frames, events, script["pre_roll"])


# -- endpointing -----------------------------------------------------------------------------


@dataclass
class Timeline:
    """Arrival times in ms; VAD segments carry their dated start and end."""

    segments: list[tuple[int, int, int, int]]  # start arrival, start, end arrival, end
    finals: list[tuple[int, str]]  # (arrival, text)
    min_delay: int
    inputs: list[tuple[int, str, Any]] = field(default_factory=list)


@st.composite
def timelines(draw: Any) -> Timeline:
    min_delay = draw(st.sampled_from([200, 500]))
    segments = []
    t = draw(st.integers(0, 2000))
    previous_end = -1
    for _ in range(draw(st.integers(1, 5))):
        start_arrival = t + draw(st.integers(10, 3000))
        start = start_arrival - draw(st.integers(0, 300))
        end_arrival = start_arrival + draw(st.integers(10, 3000))
        end = end_arrival - draw(st.integers(0, 800))
        assume(previous_end < start < end)
        segments.append((start_arrival, start, end_arrival, end))
        t, previous_end = end_arrival, end
    finals = []
    for k, (start_arrival, _, end_arrival, _) in enumerate(segments):
        for n in range(draw(st.integers(0, 2))):
            late = draw(st.integers(0, end_arrival - start_arrival + 1500))
            finals.append((start_arrival + late, f"s{k}w{n}"))
    for n in range(draw(st.integers(0, 2))):
        finals.append((draw(st.integers(0, t + 2000)), f"orphan{n}"))
    arrivals = [a for seg in segments for a in (seg[0], seg[2])] + [a for a, _ in finals]
    assume(len(set(arrivals)) == len(arrivals))
    # No input arrives exactly at a deadline (who goes first would then be a convention).
    deadlines = {seg[3] + min_delay for seg in segments} | {a + min_delay for a, _ in finals}
    assume(not deadlines & set(arrivals))
    return Timeline(segments, sorted(finals), min_delay)


def expected_commits(tl: Timeline) -> list[tuple[int, int, int, str]]:
    """(committed_at, speech_start, speech_end, transcript) per turn, in ms, window by window.

    A quiet window runs from an END's arrival to the next START's arrival (the first one from 0
    to the first START). The turn open at its beginning commits at max(dated end + delay, the
    moment it has text) if that is inside the window; else it carries on into the next segment,
    unless it never had text by its deadline (noise: dropped). Finals after that commit, in the
    same window, form transcript-only turns that commit ``delay`` after their last final.
    """
    d = tl.min_delay
    commits: list[tuple[int, int, int, str]] = []
    turn: dict[str, Any] | None = None  # start, end, texts

    def finals_in(lo: float, hi: float) -> list[tuple[int, str]]:
        return [(a, text) for a, text in tl.finals if lo <= a < hi]

    def transcript_only(finals: list[tuple[int, str]], window_end: float) -> None:
        nonlocal turn
        for a, text in finals:
            if turn is not None and turn["end"] + d < a:  # the previous group committed first
                commits.append((turn["end"] + d, turn["start"], turn["end"],
                                " ".join(turn["texts"])))
                turn = None
            if turn is None:
                turn = {"start": a, "end": a, "texts": []}
            turn["texts"].append(text)
            turn["end"] = a
        if turn is not None and turn["end"] + d < window_end:
            commits.append((turn["end"] + d, turn["start"], turn["end"], " ".join(turn["texts"])))
            turn = None

    first_start = tl.segments[0][0]
    transcript_only(finals_in(0, first_start), first_start)
    for i, (start_arrival, start, end_arrival, end) in enumerate(tl.segments):
        if turn is None:
            turn = {"start": start, "texts": []}
        turn["texts"] += [text for _, text in finals_in(start_arrival, end_arrival)]
        turn["end"] = end
        window_end = tl.segments[i + 1][0] if i + 1 < len(tl.segments) else float("inf")
        quiet = finals_in(end_arrival, window_end)
        if turn["texts"]:
            commit = max(end + d, end_arrival)
        elif quiet:
            commit = max(end + d, quiet[0][0])
        else:
            if end + d < window_end:
                turn = None  # noise
            continue
        if commit >= window_end:
            turn["texts"] += [text for _, text in quiet]
            continue
        turn["texts"] += [text for a, text in quiet if a <= commit]
        commits.append((commit, turn["start"], end, " ".join(turn["texts"])))
        turn = None
        transcript_only([(a, text) for a, text in quiet if a > commit], window_end)
    return commits


def run_endpointing(tl: Timeline) -> list[tuple[int, int, int, str]]:
    scheduler = TestScheduler()
    vad: Subject[VADEvent] = Subject()
    stt: Subject[SpeechEvent] = Subject()
    got: list[tuple[float, Any]] = []
    op = endpointing(stt, scheduler=scheduler, min_delay=tl.min_delay / 1000)
    vad.pipe(op).subscribe(lambda turn: got.append((seconds(scheduler), turn)))
    script: list[tuple[int, Any, Any]] = []
    for start_arrival, start, end_arrival, end in tl.segments:
        script.append((start_arrival, vad, VADEvent(START, start / 1000)))
        script.append((end_arrival, vad, VADEvent(END, end / 1000)))
    for arrival, text in tl.finals:
        event = SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, 0.0, (SpeechData(text),))
        script.append((arrival, stt, event))
    for arrival, subject, value in sorted(script, key=lambda x: x[0]):
        scheduler.schedule_absolute(arrival / 1000, lambda *_, s=subject, v=value: s.on_next(v))
    scheduler.advance_to(1000.0)
    result = []
    for at, turn in got:
        assert round(turn.committed_at, 6) == round(at, 6)
        result.append((round(at * 1000), round(turn.speech_start * 1000),
                       round(turn.speech_end * 1000), turn.transcript))
        # exact to the scheduler's microsecond, not only to the millisecond
        assert abs(at * 1000 - round(at * 1000)) < 1e-3
    return result


@settings(max_examples=400, deadline=None)
@given(timelines())
def test_endpointing_commits_once_per_turn_at_exact_times(tl: Timeline) -> None:
    got = run_endpointing(tl)
    assert got == expected_commits(tl)
    # Invariants, stated on their own: never before min_delay after the user stopped, every
    # final transcript in exactly one turn, turns in order.
    for committed_at, _, speech_end, _ in got:
        assert committed_at >= speech_end + tl.min_delay
    words = [w for *_, text in got for w in text.split()]
    assert sorted(words) == sorted(text for _, text in tl.finals)
    assert [c[0] for c in got] == sorted(c[0] for c in got)
