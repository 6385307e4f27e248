"""The VAD gate: which frames reach STT, scripted as arrival-ordered frames and VAD events."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from reactivex.subject import Subject

from flowagents.graph import Graph
from flowagents.runtime import GraphRuntime
from flowagents.types import AudioFrame, VADEvent, VADEventType
from nodes.audio.gate import Gate, gate

RATE = 16000
FRAME = 0.02  # 320 samples


def frame(i: int, samples: int = 320) -> AudioFrame:
    """The i-th 20 ms frame (timestamp i * 20 ms)."""
    return AudioFrame(np.full(samples, i, dtype=np.int16), RATE, 1, i * samples / RATE)


def start(t: float) -> VADEvent:
    return VADEvent(VADEventType.START_OF_SPEECH, t)


def end(t: float) -> VADEvent:
    return VADEvent(VADEventType.END_OF_SPEECH, t)


class Rig:
    def __init__(self, **options) -> None:
        self.audio: Subject[AudioFrame] = Subject()
        self.vad: Subject[VADEvent] = Subject()
        self.passed: list[int] = []
        self.completed = False
        self.errors: list[Exception] = []
        self.audio.pipe(gate(self.vad, **options)).subscribe(
            lambda f: self.passed.append(int(f.data[0])), self.errors.append,
            lambda: setattr(self, "completed", True))

    def frames(self, first: int, last: int) -> None:
        for i in range(first, last + 1):
            self.audio.on_next(frame(i))


def test_silence_is_dropped() -> None:
    rig = Rig()
    rig.frames(0, 200)
    assert rig.passed == []


def test_speech_passes_with_pre_roll_before_the_dated_start() -> None:
    rig = Rig(pre_roll=0.5)
    rig.frames(0, 120)
    # The VAD decides at frame 120 (t=2.42) that speech began at t=2.0 (frame 100).
    rig.vad.on_next(start(2.0))
    rig.frames(121, 150)
    rig.vad.on_next(end(2.8))  # dated back; frames 141..150 already passed
    rig.frames(151, 200)
    # pre-roll covers [1.5, ...): frame 75 spans [1.50, 1.52) and is the first one in.
    assert rig.passed == list(range(75, 151))


def test_a_frame_straddling_the_pre_roll_edge_passes() -> None:
    rig = Rig(pre_roll=0.51)  # edge at 1.49: frame 74 spans [1.48, 1.50)
    rig.frames(0, 120)
    rig.vad.on_next(start(2.0))
    assert rig.passed[0] == 74
    rig2 = Rig(pre_roll=0.5)  # edge at 1.50 exactly: frame 74 ends there and stays out
    rig2.frames(0, 120)
    rig2.vad.on_next(start(2.0))
    assert rig2.passed[0] == 75


def test_zero_pre_roll_passes_from_the_dated_start() -> None:
    rig = Rig(pre_roll=0.0)
    rig.frames(0, 120)
    rig.vad.on_next(start(2.0))
    assert rig.passed[0] == 100
    assert rig.passed == list(range(100, 121))


def test_frames_are_never_repeated_when_speech_restarts_within_the_pre_roll() -> None:
    rig = Rig(pre_roll=0.5)
    rig.frames(0, 60)
    rig.vad.on_next(start(1.0))
    rig.frames(61, 80)
    rig.vad.on_next(end(1.5))
    rig.frames(81, 90)
    rig.vad.on_next(start(1.7))  # pre-roll reaches back to 1.2, into frames already sent
    rig.frames(91, 95)
    assert rig.passed == list(range(25, 96))
    assert len(set(rig.passed)) == len(rig.passed)


def test_the_ring_is_bounded_by_pre_roll_plus_lookback() -> None:
    rig = Rig(pre_roll=0.2, lookback=0.3)
    rig.frames(0, 500)
    # A START dated 1 s behind the newest frame: only 0.5 s of audio is left in the ring.
    rig.vad.on_next(start(9.0))
    assert rig.passed == list(range(476, 501))


def test_vad_noise_is_ignored() -> None:
    rig = Rig()
    rig.frames(0, 10)
    rig.vad.on_next(VADEvent(VADEventType.INFERENCE_DONE, 0.2, probability=0.9))
    rig.vad.on_next(end(0.2))
    rig.frames(11, 12)
    assert rig.passed == []
    rig.vad.on_next(start(0.2))
    rig.vad.on_next(start(0.24))
    rig.frames(13, 13)
    assert rig.passed == list(range(14))


def test_completion_and_errors_follow_the_audio() -> None:
    rig = Rig()
    rig.vad.on_completed()
    rig.vad.on_next(start(0.0))  # a completed subject ignores this
    rig.frames(0, 2)
    assert not rig.completed
    rig.audio.on_completed()
    assert rig.completed
    rig2 = Rig()
    rig2.vad.on_error(RuntimeError("vad died"))
    assert [str(e) for e in rig2.errors] == ["vad died"]


def test_negative_options_are_refused() -> None:
    with pytest.raises(ValueError, match="pre_roll"):
        gate(Subject(), pre_roll=-0.1)
    with pytest.raises(ValidationError):
        Gate(pre_roll=-1)


def test_gate_node_in_a_graph() -> None:
    from reactivex.testing import TestScheduler

    with Graph("g") as g:
        audio = g.input("audio", AudioFrame)
        vad = g.input("vad", VADEvent)
        g.output("speech", Gate(pre_roll=0.1)(audio, vad))
    runtime = GraphRuntime(g, scheduler=TestScheduler()).start()
    passed: list[int] = []
    runtime.output("speech").subscribe(lambda f: passed.append(int(f.data[0])))
    for i in range(0, 30):
        runtime.push("audio", frame(i))
    runtime.push("vad", start(0.5))
    for i in range(30, 33):
        runtime.push("audio", frame(i))
    runtime.close()
    assert passed == list(range(20, 33))
