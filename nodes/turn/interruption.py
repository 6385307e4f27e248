"""Interruption: decide when the user's speech interrupts the agent (a barge-in).

LiveKit Agents' rule: while a speech is in flight (the agent thinking or speaking) and it allows
interruptions, user speech interrupts it once it has lasted ``min_interruption_duration`` (0.5 s,
measured from the VAD's dated start of speech), or once a final transcript with words arrives.
With ``min_interruption_words`` > 0 both paths also need that many words in the user's pending
turn: the finals since the last turn the agent answered (an utterance too short to interrupt
stays in the turn, and the next one adds to it), plus the newest interim. One barge-in per
speech at most; a paused speech (false-interruption candidate) is not barged in again. The
duration check is a timer at ``start + min_interruption_duration`` on the job's scheduler,
cancelled by the end of speech, so it works with VADs that only report start and end. The
thresholds come from the active agent's :class:`~flowagents.voice.options.TurnOptions` on
``turn`` (from the next start of speech on); ``answered`` (the turns the agent answers) starts a
new count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, Out, register_type
from flowagents.runtime.timer import Timer
from flowagents.tokenize import split_words
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.options import DEFAULT_TURN_OPTIONS, TurnOptions
from flowagents.voice.signals import AgentActivity
from flowagents.voice.turns import UserTurn

__all__ = ["BargeIn", "Interruption", "interruption"]


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The user interrupted speech ``speech_id`` at ``time`` (having said ``words`` words)."""

    speech_id: str
    time: float
    words: int = 0
    by_transcript: bool = False


register_type(BargeIn)
register_type(AgentActivity)


class _Watch:
    """One subscription's state: the thresholds in force, what the agent does, what the user
    said in the pending turn, and the duration timer."""

    __slots__ = ("agent", "barged", "emit", "final_words", "interim_words", "long_enough",
                 "min_duration", "min_words", "speaking", "timer")

    def __init__(self, scheduler: abc.SchedulerBase, emit: Callable[[BargeIn], None],
                 options: TurnOptions) -> None:
        self.emit = emit
        self.min_duration = options.min_interruption_duration
        self.min_words = options.min_interruption_words
        self.agent: AgentActivity | None = None
        self.speaking = False
        self.long_enough = False
        self.final_words = 0  # finals of the pending turn (across utterances)
        self.interim_words = 0
        self.barged: set[str] = set()
        self.timer = Timer(scheduler, self.on_long_enough)

    def words(self) -> int:
        return self.final_words + self.interim_words

    def check(self, by_transcript: bool = False) -> None:
        agent = self.agent
        if agent is None or agent.speech_id is None or agent.paused:
            return
        if not agent.allow_interruptions or agent.speech_id in self.barged:
            return
        if not (self.long_enough or by_transcript):
            return
        if self.min_words > 0 and self.words() < self.min_words:
            return
        self.barged.add(agent.speech_id)
        self.emit(BargeIn(agent.speech_id, self.timer.now(), self.words(), by_transcript))

    def on_long_enough(self) -> None:
        self.long_enough = True
        self.check()

    def on_vad(self, event: VADEvent) -> None:
        if event.type is VADEventType.START_OF_SPEECH and not self.speaking:
            self.speaking, self.long_enough, self.interim_words = True, False, 0
            self.timer.at(event.timestamp + self.min_duration)
        elif event.type is VADEventType.INFERENCE_DONE and self.speaking:
            if event.speech_duration >= self.min_duration and not self.long_enough:
                self.timer.at(self.timer.now())
        elif event.type is VADEventType.END_OF_SPEECH and self.speaking:
            self.speaking = self.long_enough = False
            self.timer.cancel()

    def on_transcript(self, event: SpeechEvent) -> None:
        count = len(split_words(event.text))
        if event.type is SpeechEventType.INTERIM_TRANSCRIPT:
            self.interim_words = count
            self.check()
        elif event.type is SpeechEventType.FINAL_TRANSCRIPT:
            self.final_words += count
            self.interim_words = 0
            self.check(by_transcript=count > 0)

    def on_answered(self, _turn: UserTurn) -> None:
        self.final_words = self.interim_words = 0  # the next turn counts from zero

    def on_activity(self, agent: AgentActivity) -> None:
        self.agent = agent
        if not agent.busy:
            self.barged.clear()
        self.check()

    def on_options(self, options: TurnOptions) -> None:
        self.min_duration = options.min_interruption_duration
        self.min_words = options.min_interruption_words


def interruption(transcripts: Observable[SpeechEvent], activity: Observable[AgentActivity], *,
                 scheduler: abc.SchedulerBase, options: Observable[TurnOptions] | None = None,
                 answered: Observable[UserTurn] | None = None) -> Any:
    """``vad.pipe(interruption(transcripts, activity, ...))``: the barge-ins."""

    def _op(vad: Observable[VADEvent]) -> Observable[BargeIn]:
        def subscribe(observer: abc.ObserverBase[BargeIn],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            watch = _Watch(scheduler, observer.on_next, DEFAULT_TURN_OPTIONS)
            subs = CompositeDisposable(watch.timer)
            if options is not None:
                subs.add(options.subscribe(watch.on_options, observer.on_error))
            if answered is not None:
                subs.add(answered.subscribe(watch.on_answered, observer.on_error))
            subs.add(activity.subscribe(watch.on_activity, observer.on_error))
            subs.add(transcripts.subscribe(watch.on_transcript, observer.on_error))
            subs.add(vad.subscribe(watch.on_vad, observer.on_error, observer.on_completed))
            return subs

        return Observable(subscribe)

    return _op


class Interruption(Node):
    """Barge-in detection (see the module docstring). Emits :class:`BargeIn` on ``barge_in``."""

    inputs = (In("vad", VADEvent, doc="speech started / ended"),
              In("transcripts", SpeechEvent, doc="transcript"),
              In("activity", AgentActivity, doc="agent activity"),
              In("turn", TurnOptions, required=False, doc="turn options"),
              In("answered", UserTurn, required=False, doc="turn answered"))
    outputs = (Out("barge_in", BargeIn, doc="barge-in"),)
    reads = ("min_interruption_duration", "min_interruption_words")

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        op = interruption(inputs["transcripts"], inputs["activity"], scheduler=ctx.scheduler,
                          options=inputs.get("turn"), answered=inputs.get("answered"))
        return {"barge_in": inputs["vad"].pipe(op)}
