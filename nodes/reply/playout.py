"""Playout: the agent's mouth. Plays one speech at a time, paced on the session clock.

Speeches arrive scheduled (a ``say``, a reply); they queue and play in order. A committed user
turn supersedes what was said before it (a ``supersede`` order from the turn reply): the
interruptible speech in flight and the queued replies to older turns stop, and the agent is
thinking until the turn's reply arrives. Each frame is handed on at its deadline: the
first when it arrives, each next one at the previous deadline plus the previous frame's duration,
scheduled with ``schedule_absolute`` so playback never drifts (a late frame starts a new run at
its arrival). Playout is the single source of the agent's state: ``thinking`` while a speech is in
flight with no audio playing, ``speaking`` from the moment its first frame is played, ``listening``
when the queue is empty or the speech is paused. It obeys :class:`PlayoutControl` orders (pause,
resume, interrupt), emits the agent's transcription word by word as the audio reaches each word
(a segment's text spread over its audio in proportion to its characters), and reports each step's
played text, cut at the playout position when interrupted; when the audio failed (a TTS that
failed for good), the text of the segment whose voice failed is kept whole, marked
interrupted. A segment that ends with no audio at all (a text-only session, no TTS) is shown
whole at once and counts as played.

Emits: ``audio`` (frames, stamped with their play time), ``activity`` (:class:`AgentActivity`,
fed back upstream), ``playback`` (:class:`PlaybackEvent`), ``transcription``
(:class:`TranscriptionSegment` deltas).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.graph import BuildContext, In, Node, Out, register_type
from flowagents.runtime.bridge import Dispose
from flowagents.runtime.scheduler import seconds
from flowagents.types import AudioFrame
from flowagents.voice.events import AgentState
from flowagents.voice.io import TranscriptionSegment
from flowagents.voice.signals import AgentActivity, PlaybackEvent, PlayoutControl
from flowagents.voice.speech import AgentAudio, Speech, StepResult

__all__ = ["Playout", "played_text"]

for _t in (Speech, PlaybackEvent, TranscriptionSegment):
    register_type(_t)


@dataclass(slots=True)
class _Segment:
    text: str
    received: float = 0.0
    played: float = 0.0
    final: bool = False
    emitted: int = 0  # characters of text already sent as transcription
    broken: bool = False  # its audio stream failed before the segment's end


def _covered(text: str, fraction: float) -> int:
    """How many characters of ``text`` are fully spoken at ``fraction`` of its audio: up to the
    end of the last word whose end lies within it."""
    if fraction >= 1.0:
        return len(text)
    limit = fraction * len(text)
    end = 0
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        j = i
        while j < n and not text[j].isspace():
            j += 1
        if j > i and j <= limit + 1e-9:
            end = j
        i = j
    return end


def played_text(segments: list[_Segment]) -> str:
    """The text played so far over ``segments``, cut at a word boundary."""
    parts = []
    for seg in segments:
        if seg.broken:  # its voice failed: the text it was saying is kept whole, and ends it
            if seg.text.strip():
                parts.append(seg.text.strip())
            break
        if seg.played <= 0 and not (seg.final and seg.received <= 0):  # text-only: shown whole
            break
        frac = 1.0 if seg.final and seg.played >= seg.received - 1e-9 else (
            seg.played / seg.received if seg.received > 0 else 0.0)
        covered = seg.text[:_covered(seg.text, frac)].strip()
        if covered:
            parts.append(covered)
        if covered != seg.text.strip():
            break
    return " ".join(parts)


@dataclass(slots=True)
class _Step:
    index: int
    segments: list[_Segment] = field(default_factory=list)
    started_at: float | None = None
    played: float = 0.0
    transcribed: bool = False  # some of its text went out as transcription
    spaced: bool = False  # the transcription so far ends with whitespace


class _Mouth:
    """The playout state machine of one subscription."""

    def __init__(self, scheduler: abc.SchedulerBase, emit: Any) -> None:
        self.scheduler = scheduler
        self.emit = emit  # emit(port, value)
        self.queue: deque[Speech] = deque()
        self.current: Speech | None = None
        self.subscription: abc.DisposableBase | None = None
        self.items: deque[tuple[AgentAudio, _Step, _Segment | None]] = deque()
        self.steps: dict[int, _Step] = {}  # of the current speech, by index, as audio arrives
        self.segment: _Segment | None = None  # the segment of the frame being played
        self.audio_done = False
        self.failed = False  # the current speech's audio stream failed
        self.timer: abc.DisposableBase | None = None
        self.deadline = 0.0
        self.on_time = False  # pumping at a deadline: the next frame continues the run
        self.run_start = 0.0
        self.run_rate = 0
        self.run_samples = 0
        self.paused = False
        self.playing = False
        self.step: _Step | None = None
        self.activity: AgentActivity | None = None
        self.awaiting = False  # a committed turn's reply is coming: thinking, not listening

    def now(self) -> float:
        return seconds(self.scheduler)

    # -- state -----------------------------------------------------------------------------
    def set_state(self, state: AgentState) -> None:
        if self.paused:
            state = "listening"  # a paused speech waits for the user: the agent listens
        s = self.current
        activity = AgentActivity(state, self.now(), s.id if s else None,
                                 s.handle.allow_interruptions if s else True, self.paused)
        old = self.activity
        if old is not None and (old.state, old.speech_id, old.allow_interruptions,
                                old.paused) == (state, activity.speech_id,
                                                activity.allow_interruptions, self.paused):
            return
        self.activity = activity
        self.emit("activity", activity)

    # -- speeches --------------------------------------------------------------------------
    def on_speech(self, speech: Speech) -> None:
        if not speech.scheduled:
            return
        if speech.replaces_current:
            self.awaiting = False  # the reply the agent was thinking about is here
        self.queue.append(speech)
        if self.current is None:
            self.start_next()

    def start_next(self) -> None:
        while self.queue:
            speech = self.queue.popleft()
            if speech.handle.interrupted or speech.audio is None:
                self.emit("playback", PlaybackEvent("done", speech, self.now()))
                speech.handle._mark_done()
                continue
            self.current = speech
            self.items.clear()
            self.steps = {}
            self.audio_done = False
            self.failed = False
            self.paused = False
            self.playing = False
            self.step = None
            self.set_state("thinking")
            audio = speech.audio
            subs = _Holds()
            self.subscription = subs
            subs.add(speech.handle.on_interrupted(self.stopper(speech)))
            if self.current is speech:
                subs.add(audio.subscribe(self.on_item, self.on_audio_error, self.on_audio_done))
            return
        self.current = None
        self.set_state("thinking" if self.awaiting else "listening")

    def stopper(self, speech: Speech) -> Any:
        return lambda: self.stop(speech)

    def on_audio_error(self, error: Exception) -> None:
        """The speech's audio failed (its TTS, after its retries, or its LLM): report it, play
        what came, and record the step as an interrupted reply: the segments voiced to their
        end, then the one whose audio failed, whole (what the agent was saying when its voice
        failed: the history does not lose the reply's text, and marks it not fully heard). An
        LLM failure breaks no segment: the text stream fails only between sentences."""
        self.emit("error", error)
        self.failed = True
        for step in self.steps.values():
            for seg in step.segments:
                seg.broken = seg.broken or not seg.final
        self.on_audio_done()

    def on_audio_done(self) -> None:
        self.audio_done = True
        if self.timer is None and not self.paused:
            self.pump()

    def on_item(self, item: AgentAudio) -> None:
        step = self.steps.get(item.step)
        if step is None:
            step = self.steps[item.step] = _Step(item.step)
        if item.text:
            step.segments.append(_Segment(item.text))
        seg = step.segments[-1] if step.segments else None
        if item.frame is not None:
            if seg is None:
                seg = _Segment("")
                step.segments.append(seg)
            seg.received += item.frame.duration
        if item.end_of_segment and seg is not None:
            seg.final = True
        self.items.append((item, step, seg))
        if self.timer is None and not self.paused:
            self.pump()

    # -- pacing ----------------------------------------------------------------------------
    def pump(self) -> None:
        speech = self.current
        if speech is None:
            return
        now = self.now()
        while self.items:
            item, step, seg = self.items.popleft()
            self.step = step
            frame = item.frame
            if frame is None:
                if item.end_of_segment and seg is not None:
                    self.transcribe(speech, seg)
                    if seg.received <= 0 and step.started_at is None:  # shown, no audio
                        step.started_at = now
                        self.emit("playback", PlaybackEvent("started", speech, now))
                if item.end_of_step:
                    self.end_step(speech, interrupted=False)
                    if self.current is not speech:
                        return
                continue
            assert seg is not None
            self.play(speech, step, seg, frame, now)
            return
        if self.audio_done:
            self.finish(speech)

    def play(self, speech: Speech, step: _Step, seg: _Segment, frame: AudioFrame,
             now: float) -> None:
        rate = frame.sample_rate
        if not self.on_time or rate != self.run_rate:
            # a new run of frames: paced from now (first frame, after an underrun or a pause)
            self.run_start, self.run_rate, self.run_samples = now, rate, 0
        when = self.run_start + self.run_samples / rate
        # the frame goes out first: what follows is bookkeeping of the same instant (the
        # transcript up to this frame, "started", "speaking"), not worth delaying a reply's
        # first audio for
        self.emit("audio", frame.with_timestamp(when))
        self.transcribe(speech, seg)
        if step.started_at is None:
            step.started_at = when
            self.emit("playback", PlaybackEvent("started", speech, when))
        self.playing = True
        self.set_state("speaking")
        duration = frame.duration
        seg.played += duration
        step.played += duration
        self.segment = seg
        self.run_samples += frame.samples_per_channel
        self.deadline = self.run_start + self.run_samples / rate
        self.on_time = False
        self.timer = self.scheduler.schedule_absolute(self.deadline, self.on_timer)

    def on_timer(self, _s: abc.SchedulerBase, _st: Any = None) -> None:
        self.timer = None
        self.on_time = True  # called at the deadline: the next frame continues the run
        self.pump()
        if self.timer is None:
            self.on_time = False

    def cut_frame(self) -> None:
        """Stop the frame being played now: count only the part already heard."""
        if self.timer is not None:
            self.timer.dispose()
            self.timer = None
            unplayed = max(0.0, self.deadline - self.now())
            step, seg = self.step, self.segment
            if step is not None and seg is not None:  # the rest of that frame is never heard
                seg.played -= unplayed
                seg.received -= unplayed
                step.played -= unplayed

    def transcribe(self, speech: Speech, seg: _Segment) -> None:
        if seg.final and seg.played >= seg.received - 1e-9:
            upto = len(seg.text)
        else:
            total = seg.received
            upto = _covered(seg.text, seg.played / total) if total > 0 else 0
        if upto > seg.emitted:
            delta = seg.text[seg.emitted:upto]
            first_of_segment = seg.emitted == 0
            seg.emitted = upto
            if delta.strip():
                step = self.step
                if step is not None:
                    # segments are sentences voiced apart: the space between them is in none
                    # (unless one already ended with it: a realtime model's word pieces do)
                    if (first_of_segment and step.transcribed and not step.spaced
                            and not delta[0].isspace()):
                        delta = " " + delta
                    step.transcribed = True
                    step.spaced = delta[-1].isspace()
                self.emit("transcription", TranscriptionSegment(
                    speech.id, delta, "agent", False, self.now()))

    # -- endings ---------------------------------------------------------------------------
    def end_step(self, speech: Speech, *, interrupted: bool) -> None:
        step = self.step
        if step is None:
            return
        self.step = None
        self.playing = False
        result = StepResult(step.index, played_text(step.segments), step.started_at, self.now(),
                            max(0.0, step.played), interrupted)
        if step.started_at is not None:
            self.emit("transcription", TranscriptionSegment(speech.id, "", "agent", True,
                                                            self.now()))
        speech.step_played(result)
        self.emit("playback", PlaybackEvent("step_done", speech, self.now(), result))
        if self.current is speech and not interrupted and (self.items or not self.audio_done):
            self.set_state("thinking")

    def finish(self, speech: Speech) -> None:
        if self.step is not None:
            self.end_step(speech, interrupted=self.failed)
        self.close_current(speech)

    def stop(self, speech: Speech) -> None:
        """The speech was interrupted: drop its audio, report what was played, go on."""
        if self.current is not speech:
            return
        was_playing = self.playing or self.paused
        self.cut_frame()
        self.items.clear()
        if was_playing:
            self.emit("playback", PlaybackEvent("cleared", speech, self.now()))
        if self.step is not None:
            self.end_step(speech, interrupted=True)
        self.close_current(speech)

    def close_current(self, speech: Speech) -> None:
        if self.subscription is not None:
            sub, self.subscription = self.subscription, None
            sub.dispose()
        self.current = None
        self.playing = False
        self.paused = False
        self.emit("playback", PlaybackEvent("done", speech, self.now()))
        speech.handle._mark_done()
        speech.cancel()  # what it started early (a preemptive LLM) ends with it
        self.start_next()

    # -- control ---------------------------------------------------------------------------
    def on_control(self, control: PlayoutControl) -> None:
        if control.action == "supersede":
            self.supersede(control.time)
            return
        if control.action == "settle":
            self.awaiting = False
            if self.current is None:
                self.set_state("listening")
            return
        if control.action == "interrupt_all":
            for queued in [self.current, *self.queue]:
                if queued is not None and queued.handle.allow_interruptions:
                    queued.handle.interrupt()
            return
        speech = self.current
        if speech is None or speech.id != control.speech_id:
            return
        if control.action == "interrupt":
            speech.handle.interrupt(force=True)
        elif control.action == "pause" and not self.paused:
            self.cut_frame()
            self.paused = True
            self.playing = False
            self.emit("playback", PlaybackEvent("cleared", speech, self.now()))
            self.emit("playback", PlaybackEvent("paused", speech, self.now()))
            self.set_state("listening")
        elif control.action == "resume" and self.paused:
            self.paused = False
            self.emit("playback", PlaybackEvent("resumed", speech, self.now()))
            self.pump()
            if self.current is speech and not self.playing:
                self.set_state("thinking")

    def supersede(self, turn_time: float) -> None:
        """A user turn committed at ``turn_time`` for a reply: the queued replies to older
        turns are dropped, and the interruptible speech in flight, if it began before the
        turn, is interrupted; the agent then thinks (the reply is coming), it does not go back
        to listening in between."""
        for queued in [q for q in self.queue if q.replaces_current
                       and _turn_time(q) < turn_time]:
            self.queue.remove(queued)
            queued.handle.interrupt(force=True)
            self.emit("playback", PlaybackEvent("done", queued, self.now()))
            queued.handle._mark_done()
        current = self.current
        if (current is not None and current.handle.allow_interruptions
                and current.created_at < turn_time):
            self.awaiting = True
            current.handle.interrupt()

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.dispose()
            self.timer = None
        if self.subscription is not None:
            self.subscription.dispose()
            self.subscription = None


class _Holds(abc.DisposableBase):
    """What playout holds for the current speech (its interruption watch and its audio): a
    lock-free composite, one per reply. Added after disposal, a part is disposed at once (the
    audio may end the speech while it is being subscribed)."""

    __slots__ = ("disposed", "parts")

    def __init__(self) -> None:
        self.parts: list[abc.DisposableBase] = []
        self.disposed = False

    def add(self, part: abc.DisposableBase) -> None:
        if self.disposed:
            part.dispose()
        else:
            self.parts.append(part)

    def dispose(self) -> None:
        if not self.disposed:
            self.disposed = True
            parts, self.parts = self.parts, []
            for part in parts:
                part.dispose()


class Playout(Node):
    """The agent's mouth (see the module docstring).

    Inputs: ``speeches`` (:class:`Speech`), ``control``, ``turn_control`` and ``interrupts``
    (:class:`PlayoutControl`: the false-interruption rule's, the turn reply's, the session's).
    Outputs: ``audio``, ``activity``, ``playback``, ``transcription``.
    """

    inputs = (In("speeches", Speech, doc="speech + audio"),
              In("control", PlayoutControl, doc="pause / resume / interrupt"),
              In("turn_control", PlayoutControl, required=False, doc="new turn supersedes"),
              In("interrupts", PlayoutControl, required=False, doc="interrupt all"))
    outputs = (Out("audio", AudioFrame, doc="agent audio"),
               Out("activity", AgentActivity, doc="agent activity"),
               Out("playback", PlaybackEvent, doc="text played"),
               Out("transcription", TranscriptionSegment, doc="agent transcription"))

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        speeches, control = inputs["speeches"], inputs["control"]

        def connect(ports: _Ports) -> abc.DisposableBase:
            def emit(port: str, value: Any) -> None:
                if port == "error":
                    ctx.report_error(_node_error(ctx.node, value))
                else:
                    ports.emit(port, value)

            mouth = _Mouth(ctx.scheduler, emit)

            def initial(_s: abc.SchedulerBase, _st: Any = None) -> None:
                if mouth.activity is None:
                    mouth.set_state("listening")

            orders = [inputs[name].subscribe(mouth.on_control, ports.on_error)
                      for name in ("turn_control", "interrupts") if name in inputs]
            return CompositeDisposable(
                *orders,
                control.subscribe(mouth.on_control, ports.on_error),
                speeches.subscribe(mouth.on_speech, ports.on_error, ports.on_completed),
                Dispose(mouth.dispose),
                ctx.scheduler.schedule(initial),  # once every consumer is connected
            )

        ports = _Ports(_PORTS, connect)
        return {name: ports.port(name) for name in _PORTS}


_PORTS = ("audio", "activity", "playback", "transcription")


class _Ports:
    """The mouth's output ports over one shared subscription (``share()`` semantics: connected
    by the first subscriber to any port, disconnected when the last one leaves), each value
    handed straight to the observers of its port: no filter per port per value."""

    __slots__ = ("_connect", "_connection", "_count", "_end", "_observers")

    def __init__(self, names: tuple[str, ...],
                 connect: Callable[[_Ports], abc.DisposableBase]) -> None:
        self._connect = connect
        self._observers: dict[str, tuple[abc.ObserverBase[Any], ...]] = {n: () for n in names}
        self._count = 0
        self._connection: abc.DisposableBase | None = None
        self._end: Callable[[abc.ObserverBase[Any]], None] | None = None

    def emit(self, port: str, value: Any) -> None:
        for observer in self._observers[port]:
            observer.on_next(value)

    def _finish(self, end: Callable[[abc.ObserverBase[Any]], None]) -> None:
        if self._end is not None:
            return
        self._end = end
        everyone = [o for group in self._observers.values() for o in group]
        self._observers = {n: () for n in self._observers}
        for observer in everyone:
            end(observer)

    def on_error(self, error: Exception) -> None:
        self._finish(lambda observer: observer.on_error(error))

    def on_completed(self) -> None:
        self._finish(lambda observer: observer.on_completed())

    def port(self, name: str) -> Observable[Any]:
        def subscribe(observer: abc.ObserverBase[Any],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            if self._end is not None:
                self._end(observer)
                return Disposable()
            self._observers[name] += (observer,)
            self._count += 1
            if self._connection is None:
                self._connection = Disposable()  # connecting (values may flow meanwhile)
                self._connection = self._connect(self)

            def remove() -> None:
                group = self._observers.get(name, ())
                if observer not in group:
                    return
                self._observers[name] = tuple(o for o in group if o is not observer)
                self._count -= 1
                if self._count == 0 and self._connection is not None:
                    connection, self._connection = self._connection, None
                    connection.dispose()

            return Dispose(remove)

        return Observable(subscribe)


def _turn_time(speech: Speech) -> float:
    turn = speech.user_turn
    return turn.committed_at if turn is not None else speech.created_at


def _node_error(node: str, error: Exception) -> Any:
    """The error to report: as the stage that failed named it (``llm``, ``tts``), else as
    playout's audio input's."""
    from flowagents.graph import NodeError

    return error if isinstance(error, NodeError) else NodeError(node, "audio", error)
