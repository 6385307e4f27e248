"""Endpointing, as timelines: scripted VAD events, transcripts and predictions, then the commits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from reactivex.subject import Subject

from flowagents.graph import Graph
from flowagents.runtime import GraphRuntime
from flowagents.types import SpeechData, SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.turns import UserTurn
from nodes.turn.endpointing import Endpointing, EndpointingConfig, endpointing

START, END = VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH


def start(t: float) -> VADEvent:
    return VADEvent(START, t, speaking=True)


def end(t: float) -> VADEvent:
    return VADEvent(END, t)


def final(text: str, t: float = 0.0) -> SpeechEvent:
    return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, t, (SpeechData(text),))


def interim(text: str) -> SpeechEvent:
    return SpeechEvent(SpeechEventType.INTERIM_TRANSCRIPT, 0.0, (SpeechData(text),))


class Rig:
    """Subjects for the three inputs and the recorded turns."""

    def __init__(self, timeline, *, transcripts=True, detector=False, **options) -> None:
        self.t = timeline
        self.vad: Subject[VADEvent] = Subject()
        self.stt: Subject[SpeechEvent] | None = Subject() if transcripts else None
        self.eot: Subject[float] | None = Subject() if detector else None
        op = endpointing(self.stt, self.eot, scheduler=timeline.scheduler, **options)
        self.out = timeline.record(self.vad.pipe(op))

    def commits(self) -> list[tuple[float, float, float, str]]:
        """(committed_at, speech_start, speech_end, transcript) per turn, from the recording."""
        result = []
        for t, turn in self.out.values:
            assert isinstance(turn, UserTurn)
            assert round(turn.committed_at, 6) == t
            result.append((t, turn.speech_start, turn.speech_end, turn.transcript))
        return result


def test_commits_min_delay_after_the_dated_end_of_speech(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("hello there"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.run(10)
    assert rig.commits() == [(3.1, 1.0, 2.6, "hello there")]
    assert rig.out.items[0].endpointing_delay == pytest.approx(0.5)


def test_end_reported_after_the_delay_commits_at_once(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("hi"))
    timeline.push(3.4, rig.vad, end(2.6))  # VAD dated the end 0.8 s back
    timeline.run(10)
    assert rig.commits() == [(3.4, 1.0, 2.6, "hi")]


def test_speech_resuming_before_the_commit_makes_one_turn(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("I would like"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(3.05, rig.vad, start(2.9))  # before 3.1
    timeline.push(3.5, rig.stt, final("a coffee"))
    timeline.push(4.2, rig.vad, end(4.0))
    timeline.run(10)
    assert rig.commits() == [(4.5, 1.0, 4.0, "I would like a coffee")]
    assert len(rig.out.items[0].transcripts) == 2


def test_final_transcript_after_the_deadline_commits_on_arrival(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.1, rig.vad, end(2.0))
    timeline.push(3.7, rig.stt, final("late words"))
    timeline.run(10)
    assert rig.commits() == [(3.7, 1.0, 2.0, "late words")]


def test_final_transcript_while_not_speaking_before_the_deadline_keeps_the_deadline(
    timeline,
) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.1, rig.vad, end(2.0))
    timeline.push(2.3, rig.stt, final("ok"))
    timeline.push(2.4, rig.stt, final("then"))
    timeline.run(10)
    assert rig.commits() == [(2.5, 1.0, 2.0, "ok then")]


def test_noise_is_not_committed_and_is_dropped_when_speech_resumes(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.1, rig.vad, start(1.0))  # a cough
    timeline.push(1.4, rig.vad, end(1.3))
    timeline.push(5.2, rig.vad, start(5.0))
    timeline.push(5.5, rig.stt, final("hello"))
    timeline.push(6.2, rig.vad, end(6.0))
    timeline.run(10)
    assert rig.commits() == [(6.5, 5.0, 6.0, "hello")]


def test_noise_turn_without_transcript_input_commits(timeline) -> None:
    rig = Rig(timeline, transcripts=False)
    timeline.push(1.1, rig.vad, start(1.0))
    timeline.push(1.4, rig.vad, end(1.3))
    timeline.run(10)
    assert rig.commits() == [(1.8, 1.0, 1.3, "")]


def test_commit_without_transcript_flag(timeline) -> None:
    rig = Rig(timeline, commit_without_transcript=True, min_delay=0.25)
    timeline.push(1.1, rig.vad, start(1.0))
    timeline.push(1.4, rig.vad, end(1.3))
    timeline.run(10)
    assert rig.commits() == [(1.55, 1.0, 1.3, "")]


def test_transcript_only_turn_uses_arrival_times(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(5.0, rig.stt, final("typed"))
    timeline.push(5.3, rig.stt, final("words"))
    timeline.run(10)
    assert rig.commits() == [(5.8, 5.0, 5.3, "typed words")]


def test_late_final_after_a_commit_is_a_new_turn(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("first"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(3.3, rig.stt, final("straggler"))
    timeline.run(10)
    assert rig.commits() == [(3.1, 1.0, 2.6, "first"), (3.8, 3.3, 3.3, "straggler")]


def test_interim_and_empty_transcripts_are_ignored(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(1.5, rig.stt, interim("hel"))
    timeline.push(2.0, rig.stt, final("  "))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.run(10)
    assert rig.commits() == []


def test_repeated_start_and_stray_end_are_ignored(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(0.5, rig.vad, end(0.4))
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(1.5, rig.vad, start(1.4))
    timeline.push(2.0, rig.stt, final("yes"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.vad, end(2.7))
    timeline.run(10)
    assert rig.commits() == [(3.1, 1.0, 2.6, "yes")]


def test_unlikely_end_of_turn_waits_max_delay(timeline) -> None:
    rig = Rig(timeline, detector=True)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("I want to"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.eot, 0.1)
    timeline.run(10)
    assert rig.commits() == [(5.6, 1.0, 2.6, "I want to")]
    assert rig.out.items[0].end_of_turn_probability == 0.1


def test_likely_end_of_turn_commits_at_min_delay_or_on_arrival(timeline) -> None:
    rig = Rig(timeline, detector=True)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("thanks"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.eot, 0.9)  # before 3.1: commit at 3.1
    timeline.push(6.2, rig.vad, start(6.0))
    timeline.push(6.5, rig.stt, final("bye"))
    timeline.push(7.2, rig.vad, end(7.0))
    timeline.push(7.9, rig.eot, 0.8)  # slow detector, after 7.5: commit on arrival
    timeline.run(20)
    assert rig.commits() == [(3.1, 1.0, 2.6, "thanks"), (7.9, 6.0, 7.0, "bye")]


def test_an_unsure_probability_waits_between_the_delays(timeline) -> None:
    # thresholds 0.5 and 0.7, delays 0.5 and 3.0: 0.6 is halfway, a wait of 1.75 s
    rig = Rig(timeline, detector=True, likely_threshold=0.7)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("How many lands are there?"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.eot, 0.6)
    timeline.push(5.2, rig.vad, start(5.0))
    timeline.push(5.5, rig.stt, final("thanks"))
    timeline.push(6.2, rig.vad, end(6.0))
    timeline.push(6.3, rig.eot, 0.7)  # at the likely threshold: min_delay
    timeline.push(8.2, rig.vad, start(8.0))
    timeline.push(8.5, rig.stt, final("so"))
    timeline.push(9.2, rig.vad, end(9.0))
    timeline.push(9.3, rig.eot, 0.45)  # below the unlikely threshold: max_delay
    timeline.run(20)
    assert rig.commits() == [(4.35, 1.0, 2.6, "How many lands are there?"),
                             (6.5, 5.0, 6.0, "thanks"), (12.0, 8.0, 9.0, "so")]


def test_an_unsure_wait_is_cancelled_by_speech_resuming(timeline) -> None:
    # a hesitation: the first half reads as finished but is unsure (commit due at 2.6 + 1.75)
    rig = Rig(timeline, detector=True, likely_threshold=0.7)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("How many lands are there?"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.eot, 0.6)
    timeline.push(3.5, rig.vad, start(3.3))
    timeline.push(4.0, rig.stt, final("spider have?"))
    timeline.push(4.7, rig.vad, end(4.5))
    timeline.push(4.8, rig.eot, 0.9)
    timeline.run(20)
    assert rig.commits() == [(5.0, 1.0, 4.5, "How many lands are there? spider have?")]


def test_the_delay_of_a_probability() -> None:
    binary = EndpointingConfig(min_delay=0.3, max_delay=1.5)
    assert [binary.delay(p) for p in (0.0, 0.49, 0.5, 0.55, 1.0)] == [1.5, 1.5, 0.3, 0.3, 0.3]
    graded = EndpointingConfig(min_delay=0.3, max_delay=1.5, likely_threshold=0.6)
    assert [round(graded.delay(p), 6) for p in (0.49, 0.5, 0.55, 0.6, 0.9)] == [
        1.5, 1.5, 0.9, 0.3, 0.3]


def test_silent_detector_bounds_the_wait_at_max_delay(timeline) -> None:
    rig = Rig(timeline, detector=True, max_delay=2.0)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("hm"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.run(10)
    assert rig.commits() == [(4.6, 1.0, 2.6, "hm")]


def test_without_waiting_a_silent_detector_means_min_delay(timeline) -> None:
    rig = Rig(timeline, detector=True, wait_for_probability=False)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("hm"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.run(10)
    assert rig.commits() == [(3.1, 1.0, 2.6, "hm")]


def test_prediction_changing_its_mind_moves_the_deadline_but_not_before_now(timeline) -> None:
    rig = Rig(timeline, detector=True)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("so"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.eot, 0.2)  # wait until 5.6
    timeline.push(4.0, rig.eot, 0.7)  # the user is done after all: now
    timeline.run(10)
    assert rig.commits() == [(4.0, 1.0, 2.6, "so")]


def test_a_prediction_before_speech_resumes_is_forgotten(timeline) -> None:
    rig = Rig(timeline, detector=True, wait_for_probability=False)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("so"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.push(2.9, rig.eot, 0.1)
    timeline.push(3.2, rig.vad, start(3.0))
    timeline.push(4.2, rig.vad, end(4.0))
    timeline.run(10)
    assert rig.commits() == [(4.5, 1.0, 4.0, "so")]


def test_completes_after_the_pending_commit(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("bye"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.at(2.9, rig.vad.on_completed)
    timeline.at(2.9, rig.stt.on_completed)
    timeline.run(10)
    assert rig.commits() == [(3.1, 1.0, 2.6, "bye")]
    assert rig.out.completed_at == 3.1


def test_errors_propagate_and_cancel_the_pending_commit(timeline) -> None:
    rig = Rig(timeline)
    timeline.push(1.2, rig.vad, start(1.0))
    timeline.push(2.0, rig.stt, final("bye"))
    timeline.push(2.8, rig.vad, end(2.6))
    timeline.at(2.9, lambda: rig.stt.on_error(RuntimeError("stt down")))
    timeline.run(10)
    assert rig.commits() == []
    assert [str(e) for e in rig.out.errors] == ["stt down"]


def test_config_is_validated() -> None:
    with pytest.raises(ValidationError):
        EndpointingConfig(min_delay=1.0, max_delay=0.5)
    with pytest.raises(ValidationError):
        EndpointingConfig(min_dealy=1.0)
    with pytest.raises(ValidationError, match="likely_threshold"):
        EndpointingConfig(unlikely_threshold=0.5, likely_threshold=0.4)


def test_node_in_a_graph_under_the_test_scheduler(timeline) -> None:
    with Graph("turns") as g:
        vad = g.input("vad", VADEvent)
        stt = g.input("stt", SpeechEvent)
        g.output("turns", Endpointing(min_delay=0.3)(vad, stt))
    runtime = GraphRuntime(g, scheduler=timeline.scheduler).start()
    out = timeline.record(runtime.output("turns"))
    timeline.at(1.2, lambda: runtime.push("vad", start(1.0)))
    timeline.at(2.0, lambda: runtime.push("stt", final("graph")))
    timeline.at(2.8, lambda: runtime.push("vad", end(2.6)))
    timeline.run(10)
    runtime.close()
    assert [(t, turn.transcript) for t, turn in out.values] == [(2.9, "graph")]
