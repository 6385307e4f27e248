"""Batch STT in the voice graph: the session's VAD delimits the segments ``recognize`` transcribes.

Node tests run ``VAD -> gate -> STT`` (the voice graph's input side) on a virtual-time loop with
the testing kit's fakes: a batch-only :class:`FakeSTT` (``streaming=False``) and a
:class:`FakeVAD` with 50 ms minimum speech and 0.55 s of silence, 10 ms frames. So speech
0.5-2.5 s is confirmed at 0.55 s (dated 0.5) and ends at 3.05 s (dated 2.5); ``recognize`` is
called then, on the gated frames 0.0-3.04 s (0.5 s of pre-roll; the frame on which the VAD
decided the end is not passed), and the final transcript comes ``stt_delay`` later. A session
test runs a whole turn through ``simulate`` with the batch STT.

Speculative recognition (``speculative_delay``) needs the VAD's INFERENCE_DONE events, which
:class:`FakeVAD` does not give inside a merged segment's pauses: those tests use
:class:`DetectorVAD`, the real :class:`SpeechDetector` scoring each 10 ms frame 1.0 inside the
script's speech and 0.0 outside, so a pause resets its silence count as Silero's would.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from typing import Any

import pytest

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.graph import Graph
from flowagents.metrics import STTMetrics
from flowagents.runtime import GraphRuntime, run_virtual
from flowagents.runtime.scheduler import LoopScheduler
from flowagents.testing import FakeSTT, FakeVAD, Script
from flowagents.testing.audio import VirtualAudioInput
from flowagents.testing.fakes import sleep_until
from flowagents.types import AudioFrame, SpeechEvent, SpeechEventType, VADEvent
from flowagents.vad import VAD, VADOptions, VADStream
from flowagents.vad.detector import SpeechDetector
from flowagents.voice import Agent
from nodes.audio.gate import Gate
from nodes.audio.stt import STTNode
from nodes.audio.vad import VADNode

from .conftest import approx, run

START = SpeechEventType.START_OF_SPEECH
FINAL = SpeechEventType.FINAL_TRANSCRIPT
END = SpeechEventType.END_OF_SPEECH
OPTIONS = VADOptions(min_speech_duration=0.05, min_silence_duration=0.55, prefix_padding=0.5)


class CountingSTT(FakeSTT):
    """A batch-only fake STT that counts its cancelled ``recognize`` calls."""

    def __init__(self, script: Script) -> None:
        super().__init__(script, streaming=False)
        self.cancelled = 0

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        try:
            return await super().recognize(frames, language=language, conn_options=conn_options)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class Run:
    """What the graph emitted: ``(loop time, event)`` pairs, plus the STT's reports."""

    def __init__(self) -> None:
        self.events: list[tuple[float, SpeechEvent]] = []
        self.metrics: list[Any] = []
        self.completed_at: float | None = None

    def timeline(self) -> list[tuple[float, SpeechEventType, float, str]]:
        """``(emitted at, type, event timestamp, text)``, rounded to the microsecond."""
        return [(round(t, 6), e.type, round(e.timestamp, 6), e.text) for t, e in self.events]


class DetectorVAD(VAD):
    """The script's speech scored per frame (1.0 inside a segment) through the real detector."""

    label = "detector-vad"

    def __init__(self, script: Script) -> None:
        super().__init__(OPTIONS)
        self.script = script

    def stream(self) -> VADStream:
        return _DetectorStream(self.script)


class _DetectorStream(VADStream):
    def __init__(self, script: Script) -> None:
        self._speech = [(s.start, s.end) for s in script.speech]
        self._detector = SpeechDetector(OPTIONS)

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        mid = frame.timestamp + frame.duration / 2
        p = 1.0 if any(a <= mid < b for a, b in self._speech) else 0.0
        return self._detector.update(p, frame.end_time, frame.duration)

    def flush(self) -> Sequence[VADEvent]:
        return self._detector.flush()

    def close(self) -> None:
        pass


def graph(stt: FakeSTT, vad: VAD, speculative_delay: float | None = None,
          preflight: bool = False) -> Graph:
    with Graph("batch_stt") as g:
        audio = g.input("audio", AudioFrame)
        vad_events = VADNode(vad)(audio)
        gated = Gate(pre_roll=OPTIONS.prefix_padding)(audio, vad_events)
        g.output("transcripts", STTNode(stt, speculative_delay=speculative_delay,
                                        preflight=preflight)(
            gated, vad=vad_events))
    return g


def run_graph(script: Script, stt: FakeSTT, *, audio: float, close_at: float | None = None,
              until: float = 8.0, vad: VAD | None = None,
              speculative_delay: float | None = None, preflight: bool = False) -> Run:
    """Feed ``audio`` seconds of 10 ms frames in virtual time; close the runtime at
    ``close_at`` (disposal) or complete the audio at its end. The VAD is a :class:`FakeVAD`
    unless given; speculation is off unless ``speculative_delay`` is given."""
    result = Run()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        runtime = GraphRuntime(graph(stt, vad or FakeVAD(script, OPTIONS), speculative_delay,
                                     preflight),
                               scheduler=LoopScheduler(loop), loop=loop,
                               resources={"report_metrics": result.metrics.append})
        runtime.start()
        runtime.output("transcripts").subscribe(
            lambda e: result.events.append((loop.time(), e)),
            on_completed=lambda: setattr(result, "completed_at", loop.time()))
        if close_at is not None:
            loop.call_at(close_at, runtime.close)
        async for frame in VirtualAudioInput(audio, 0.01, start=0.0):
            if runtime.closed:
                break
            runtime.push("audio", frame)
        else:
            runtime.input("audio").on_completed()
        await sleep_until(until)
        runtime.close()

    run_virtual(main())
    return result


def test_the_final_arrives_at_the_vad_end_plus_the_recognize_latency() -> None:
    script = Script().user_speech(start=0.5, end=2.5, transcript="Hello there", stt_delay=0.3)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0)
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (3.35, FINAL, 3.35, "Hello there"),
        (3.35, END, 2.5, ""),
    ]
    (call,) = stt.calls  # once, at the VAD's end, on the segment with its pre-roll
    assert (call.time, call.start, call.end) == (approx(3.05), approx(0.0), approx(3.04))
    assert stt.streams == []
    (metrics,) = [m for m in r.metrics if isinstance(m, STTMetrics)]
    assert (metrics.timestamp, metrics.duration, metrics.audio_duration, metrics.streamed) == (
        approx(3.35), approx(0.3), approx(3.04), False)
    assert r.completed_at == approx(4.0)  # the audio ended, nothing left to recognize


def test_segments_are_recognized_one_at_a_time_in_order() -> None:
    script = (Script().user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=1.0)
              .user_speech(start=2.3, end=3.0, transcript="three", stt_delay=0.1))
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=5.0)
    # the second START (VAD at 2.35) waits until the first segment's END
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (3.05, FINAL, 3.05, "one two"),
        (3.05, END, 1.5, ""),
        (3.05, START, 2.3, ""),
        (3.65, FINAL, 3.65, "three"),
        (3.65, END, 3.0, ""),
    ]
    assert [(round(c.time, 6), c.text) for c in stt.calls] == [(2.05, "one two"), (3.55, "three")]
    # the second segment: from the frame the gate buffered at its close (2.04) to the VAD's end
    assert (stt.calls[1].start, stt.calls[1].end) == (approx(2.04), approx(3.54))


def test_a_segment_with_no_words_yields_no_final() -> None:
    script = Script().user_speech(start=0.5, end=1.5)  # noise: the VAD hears it, no words
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=3.0)
    assert r.timeline() == [(0.55, START, 0.5, ""), (2.05, END, 1.5, "")]
    assert [c.text for c in stt.calls] == [""]
    assert not [m for m in r.metrics if isinstance(m, STTMetrics)]


def test_disposal_cancels_the_recognition_in_flight() -> None:
    script = Script().user_speech(start=0.5, end=1.5, transcript="too late", stt_delay=2.0)
    stt = CountingSTT(script)
    r = run_graph(script, stt, audio=6.0, close_at=2.5)  # recognize runs 2.05 .. 4.05
    assert r.timeline() == [(0.55, START, 0.5, "")]
    assert len(stt.calls) == 1
    assert stt.cancelled == 1


def test_the_audio_ending_inside_speech_recognizes_what_was_heard() -> None:
    script = Script().user_speech(start=0.5, end=3.0, transcript="cut short", stt_delay=0.2)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=2.0)
    # the VAD flushes its END when the audio completes (dated at the last frame's end)
    types = [(t, kind, text) for t, kind, _, text in r.timeline()]
    assert types == [(0.55, START, ""), (2.2, FINAL, "cut short"), (2.2, END, "")]
    assert r.completed_at == approx(2.2)


def test_a_batch_stt_without_vad_events_is_refused_at_build() -> None:
    script = Script()
    with Graph("no_vad") as g:
        g.output("transcripts", STTNode(FakeSTT(script, streaming=False))(
            g.input("audio", AudioFrame)))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        GraphRuntime(g, scheduler=LoopScheduler(loop), loop=loop).start()

    with pytest.raises(Exception, match="batch STT"):
        run_virtual(main())


def test_a_batch_only_fake_stt_does_not_stream() -> None:
    with pytest.raises(TypeError, match="does not stream"):
        FakeSTT(Script(), streaming=False).stream()


def test_a_whole_turn_through_the_session_with_a_batch_stt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Script of ``test_plain_turn`` (speech 0.5-2.5, STT 0.2 s, LLM ttft 0.1 s, TTS ttfb 0.2 s)
    with a batch STT: the final comes at the VAD's end (3.05) + 0.2 = 3.25 and the turn commits
    then (2.5 + 0.5 has passed); the LLM (0.3 s) and TTS (0.2 s) give first audio at 3.75."""
    simulate_module = importlib.import_module("flowagents.testing.simulate")
    monkeypatch.setattr(simulate_module, "FakeSTT",
                        lambda script: FakeSTT(script, streaming=False))
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Hello, how are you?", stt_delay=0.2)
    s.llm_reply(input="Hello, how are you?", content="Fine, thanks!", ttft=0.1, duration=0.3)
    s.tts_audio(input="Fine, thanks!", audio_duration=1.0, ttfb=0.2, duration=0.3)
    r = run(s, Agent(instructions="Be helpful."))
    assert r.stt is not None
    assert r.stt.streams == []
    assert len(r.stt.calls) == 1
    assert r.messages() == [("user", "Hello, how are you?", False),
                            ("assistant", "Fine, thanks!", False)]
    finals = [e.time for e in r.of_type("user_input_transcribed")
              if getattr(e.event, "is_final", False)]
    assert finals == [approx(3.25)]
    assert r.output is not None
    assert r.output.first_frame_time == approx(3.75)


# -- speculative recognition during the VAD's silence wait ---------------------------------------


class InFlightSTT(CountingSTT):
    """Also records the most ``recognize`` calls running at once."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.running = self.most = 0

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            return await super().recognize(frames, language=language, conn_options=conn_options)
        finally:
            self.running -= 1


def test_the_detector_vad_dates_like_the_fake_vad() -> None:
    script = Script().user_speech(start=0.5, end=2.5, transcript="Hello there", stt_delay=0.3)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script))
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (3.35, FINAL, 3.35, "Hello there"),
        (3.35, END, 2.5, ""),
    ]


def test_a_speculation_done_before_the_vad_end_gives_the_final_at_the_end() -> None:
    """Silence from 2.5: speculation at 2.7 on the frames so far, done at 2.9; the FINAL is held
    until the VAD's END (3.05) and no second call is made."""
    script = Script().user_speech(start=0.5, end=2.5, transcript="Hello there", stt_delay=0.2)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2)
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (3.05, FINAL, 3.05, "Hello there"),
        (3.05, END, 2.5, ""),
    ]
    (call,) = stt.calls
    assert (call.time, call.start, call.end, call.cancelled) == (
        approx(2.7), approx(0.0), approx(2.69), False)  # pre-roll, speech, 0.19 s of silence
    # (the frame on which the VAD counted 0.2 s reaches the STT just after the VAD's event)
    (metrics,) = [m for m in r.metrics if isinstance(m, STTMetrics)]
    assert (metrics.timestamp, metrics.duration, metrics.audio_duration) == (
        approx(3.05), approx(0.2), approx(2.69))
    assert r.completed_at == approx(4.0)


def test_a_speculation_still_running_at_the_end_is_awaited() -> None:
    """Speculation 2.7 + 0.6 s = 3.3: after the END (3.05), before a call started at the END
    would return (3.65)."""
    script = Script().user_speech(start=0.5, end=2.5, transcript="Hello there", stt_delay=0.6)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2)
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (3.3, FINAL, 3.3, "Hello there"),
        (3.3, END, 2.5, ""),
    ]
    assert [round(c.time, 6) for c in stt.calls] == [2.7]


def test_speech_resuming_cancels_the_speculation_and_the_final_covers_the_utterance() -> None:
    """A 0.3 s pause (shorter than the VAD's 0.55 s): the speculation at 1.7 is cancelled when
    speech resumes at 1.8; a new one starts at 2.7 on the whole utterance."""
    script = (Script().user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=0.4)
              .user_speech(start=1.8, end=2.5, transcript="three", stt_delay=0.4))
    stt = InFlightSTT(script)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2)
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (3.1, FINAL, 3.1, "one two three"),
        (3.1, END, 2.5, ""),
    ]
    assert [(round(c.time, 6), c.cancelled) for c in stt.calls] == [(1.7, True), (2.7, False)]
    assert (stt.calls[1].start, stt.calls[1].end) == (approx(0.0), approx(2.69))
    assert stt.cancelled == 1
    assert stt.most == 1


def test_a_speculation_done_before_speech_resumes_is_dropped() -> None:
    """The speculation at 1.7 returns "one two" at 1.8, before speech resumes at 2.0: that result
    is dropped; the one at 2.7 (whole utterance) gives the final at the END."""
    script = (Script().user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=0.1)
              .user_speech(start=2.0, end=2.5, transcript="three", stt_delay=0.1))
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2)
    assert [(t, kind, text) for t, kind, _, text in r.timeline()] == [
        (0.55, START, ""), (3.05, FINAL, "one two three"), (3.05, END, "")]
    assert [(round(c.time, 6), c.text, c.cancelled) for c in stt.calls] == [
        (1.7, "one two", False), (2.7, "one two three", False)]


def test_at_most_one_recognize_in_flight_per_segment_over_many_pauses() -> None:
    """Three pauses of 0.3 s, each long enough to speculate, with slow recognition (1 s)."""
    script = Script()
    for i in range(4):
        script.user_speech(start=0.5 + i, end=1.2 + i, transcript=f"word{i}", stt_delay=1.0)
    stt = InFlightSTT(script)
    r = run_graph(script, stt, audio=6.0, vad=DetectorVAD(script), speculative_delay=0.2)
    assert [(t, kind, text) for t, kind, _, text in r.timeline()] == [
        (0.55, START, ""), (5.4, FINAL, "word0 word1 word2 word3"), (5.4, END, "")]
    assert [(round(c.time, 6), c.cancelled) for c in stt.calls] == [
        (1.4, True), (2.4, True), (3.4, True), (4.4, False)]
    assert stt.most == 1


PREFLIGHT = SpeechEventType.PREFLIGHT_TRANSCRIPT


def test_a_speculation_back_inside_the_silence_is_a_preflight_transcript() -> None:
    """Speculation at 2.7, back at 2.9 while the silence still holds: a preflight at once
    (0.15 s before the VAD's END), the final at the END as without one."""
    script = Script().user_speech(start=0.5, end=2.5, transcript="Hello there", stt_delay=0.2)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2,
                  preflight=True)
    assert r.timeline() == [
        (0.55, START, 0.5, ""),
        (2.9, PREFLIGHT, 2.9, "Hello there"),
        (3.05, FINAL, 3.05, "Hello there"),
        (3.05, END, 2.5, ""),
    ]
    assert len(stt.calls) == 1


def test_a_preflight_before_speech_resumes_is_superseded_by_the_final() -> None:
    """"one two" comes back at 1.8, before speech resumes at 2.0: it goes out as a preflight;
    the speculation on the whole utterance (2.7) is back at 2.8, still in the silence: a
    second preflight; the final says what that one said."""
    script = (Script().user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=0.1)
              .user_speech(start=2.0, end=2.5, transcript="three", stt_delay=0.1))
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2,
                  preflight=True)
    assert [(t, kind, text) for t, kind, _, text in r.timeline()] == [
        (0.55, START, ""), (1.8, PREFLIGHT, "one two"), (2.8, PREFLIGHT, "one two three"),
        (3.05, FINAL, "one two three"), (3.05, END, "")]


def test_no_preflight_for_a_speculation_that_returns_after_the_end() -> None:
    script = Script().user_speech(start=0.5, end=2.5, transcript="Hello there", stt_delay=0.6)
    stt = FakeSTT(script, streaming=False)
    r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=0.2,
                  preflight=True)
    assert [kind for _, kind, _, _ in r.timeline()] == [START, FINAL, END]


def test_speculation_disabled_behaves_as_before() -> None:
    script = (Script().user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=0.4)
              .user_speech(start=1.8, end=2.5, transcript="three", stt_delay=0.4))
    timelines = []
    for delay in (None, 0.0):
        stt = FakeSTT(script, streaming=False)
        r = run_graph(script, stt, audio=4.0, vad=DetectorVAD(script), speculative_delay=delay)
        timelines.append(r.timeline())
        assert [round(c.time, 6) for c in stt.calls] == [3.05]
    assert timelines[0] == timelines[1] == [
        (0.55, START, 0.5, ""),
        (3.45, FINAL, 3.45, "one two three"),
        (3.45, END, 2.5, ""),
    ]


def test_disposal_cancels_a_speculation() -> None:
    script = Script().user_speech(start=0.5, end=2.5, transcript="too late", stt_delay=2.0)
    stt = CountingSTT(script)
    r = run_graph(script, stt, audio=6.0, close_at=2.9, vad=DetectorVAD(script),
                  speculative_delay=0.2)
    assert r.timeline() == [(0.55, START, 0.5, "")]
    assert [(round(c.time, 6), c.cancelled) for c in stt.calls] == [(2.7, True)]


def test_disposal_cancels_a_speculation_awaited_at_the_end() -> None:
    script = Script().user_speech(start=0.5, end=2.5, transcript="too late", stt_delay=2.0)
    stt = CountingSTT(script)
    r = run_graph(script, stt, audio=6.0, close_at=3.5, vad=DetectorVAD(script),
                  speculative_delay=0.2)
    assert r.timeline() == [(0.55, START, 0.5, "")]
    assert [(round(c.time, 6), c.cancelled) for c in stt.calls] == [(2.7, True)]
    assert stt.cancelled == 1
