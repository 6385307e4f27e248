"""False interruption: pause on a barge-in, resume if the user said nothing after all.

A cough or a "hmm" must not kill the agent's answer. LiveKit Agents' rule: when the user barges
in while the agent is speaking and the audio output can pause (``can_pause``, with
``resume_false_interruption``), playout is *paused* (the agent goes back to listening); a
barge-in while the agent is only thinking, or on an output that cannot pause, interrupts at once.
A barge-in by a final transcript is a real interruption (interrupted at once, nothing to watch).
Otherwise the barged-in speech is watched: once the user stops speaking, a timer of
``false_interruption_timeout`` (2.0 s) starts (speech starting again stops it); a final
transcript with words (``min_interruption_words``, at least one) makes the interruption real (a
paused speech is interrupted for good) and ends the watch, as does a user turn committed for a
reply (``answered``: its reply supersedes the paused speech). When the timer fires:

* the paused speech is still the one in flight: playout resumes it (the session then emits
  ``agent_false_interruption(resumed=True)``);
* no speech is in flight, or the watched one is but cannot resume (it was interrupted at once):
  a :class:`~flowagents.voice.signals.FalseInterruptionExpired` goes out on ``false_interruptions``
  (the session emits ``agent_false_interruption(resumed=False)``, so the app may reply again);
* another speech is in flight: nothing (the conversation moved on).

The node turns barge-ins into :class:`~flowagents.voice.signals.PlayoutControl` orders; the timer
runs on the job's scheduler. ``false_interruption_timeout`` and ``min_interruption_words`` come
from the active agent's turn options on ``turn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out, register_type
from flowagents.runtime.subject import LoopSubject
from flowagents.runtime.timer import Timer
from flowagents.tokenize import split_words
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.options import DEFAULT_TURN_OPTIONS, TurnOptions, default
from flowagents.voice.signals import AgentActivity, FalseInterruptionExpired, PlayoutControl
from flowagents.voice.turns import UserTurn
from nodes.turn.interruption import BargeIn

__all__ = ["FalseInterruption", "FalseInterruptionConfig", "false_interruption"]

register_type(PlayoutControl)
register_type(FalseInterruptionExpired)


class FalseInterruptionConfig(NodeConfig):
    """``can_pause``: the audio output can pause (a room's can, a file's cannot)."""

    can_pause: bool = True
    resume_false_interruption: bool = Field(default("resume_false_interruption"))


class _Watch:
    """One subscription's state: the barged-in speech being watched, and its timer."""

    __slots__ = ("agent", "config", "expired", "order", "paused", "speaking", "timeout", "timer",
                 "watched", "words")

    def __init__(self, scheduler: abc.SchedulerBase, config: FalseInterruptionConfig,
                 order: Callable[[str, str], None],
                 expired: abc.ObserverBase[FalseInterruptionExpired] | None) -> None:
        self.config, self.order, self.expired = config, order, expired
        self.agent: AgentActivity | None = None
        self.watched: str | None = None
        self.paused = False
        self.speaking = False
        self.timeout = DEFAULT_TURN_OPTIONS.false_interruption_timeout
        self.words = DEFAULT_TURN_OPTIONS.min_interruption_words
        self.timer = Timer(scheduler, self.on_timeout)

    def unwatch(self) -> None:
        self.timer.cancel()
        self.watched, self.paused = None, False

    def start_timer(self) -> None:
        self.timer.cancel()
        if self.timeout is not None:
            self.timer.after(self.timeout)

    def on_timeout(self) -> None:
        speech_id, paused = self.watched, self.paused
        self.unwatch()
        if speech_id is None:
            return
        in_flight = self.agent.speech_id if self.agent is not None else None
        if paused and in_flight == speech_id:
            self.order("resume", speech_id)
        elif (in_flight is None or in_flight == speech_id) and self.expired is not None:
            self.expired.on_next(FalseInterruptionExpired(speech_id, self.timer.now()))

    def on_barge_in(self, b: BargeIn) -> None:
        agent = self.agent
        speaking = agent is not None and agent.state == "speaking"
        self.unwatch()
        if b.by_transcript:
            self.order("interrupt", b.speech_id)
            return
        cfg = self.config
        pause = (cfg.can_pause and cfg.resume_false_interruption and self.timeout is not None
                 and speaking)
        self.order("pause" if pause else "interrupt", b.speech_id)
        self.watched, self.paused = b.speech_id, pause
        if not self.speaking:
            self.start_timer()

    def on_vad(self, event: VADEvent) -> None:
        if event.type is VADEventType.START_OF_SPEECH:
            self.speaking = True
            self.timer.cancel()
        elif event.type is VADEventType.END_OF_SPEECH:
            self.speaking = False
            if self.watched is not None:
                self.start_timer()

    def on_transcript(self, event: SpeechEvent) -> None:
        if event.type is not SpeechEventType.FINAL_TRANSCRIPT or self.watched is None:
            return
        if len(split_words(event.text)) >= max(1, self.words):
            speech_id, paused = self.watched, self.paused
            self.unwatch()
            if paused:
                self.order("interrupt", speech_id)

    def on_answered(self, _turn: UserTurn) -> None:
        """The user's turn is committed for a reply: the barge-in was real, nothing to resume
        (the turn's reply supersedes the paused speech)."""
        self.unwatch()

    def on_activity(self, agent: AgentActivity) -> None:
        self.agent = agent
        if self.paused and agent.speech_id != self.watched:
            self.paused = False  # the paused speech ended: nothing left to resume

    def on_options(self, options: TurnOptions) -> None:
        self.timeout = options.false_interruption_timeout
        self.words = options.min_interruption_words


def false_interruption(vad: Observable[VADEvent], transcripts: Observable[SpeechEvent],
                       activity: Observable[AgentActivity], *, scheduler: abc.SchedulerBase,
                       config: FalseInterruptionConfig,
                       options: Observable[TurnOptions] | None = None,
                       answered: Observable[UserTurn] | None = None,
                       expired: abc.ObserverBase[FalseInterruptionExpired] | None = None) -> Any:
    """``barge_in.pipe(false_interruption(vad, transcripts, activity, ...))``: playout orders;
    timed-out barge-ins whose speech did not resume go to ``expired``."""

    def _op(barge_in: Observable[BargeIn]) -> Observable[PlayoutControl]:
        def subscribe(observer: abc.ObserverBase[PlayoutControl],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            def order(action: Any, speech_id: str) -> None:
                observer.on_next(PlayoutControl(action, speech_id, watch.timer.now()))

            watch = _Watch(scheduler, config, order, expired)
            subs = CompositeDisposable(watch.timer)
            if options is not None:
                subs.add(options.subscribe(watch.on_options, observer.on_error))
            if answered is not None:
                subs.add(answered.subscribe(watch.on_answered, observer.on_error))
            subs.add(activity.subscribe(watch.on_activity, observer.on_error))
            subs.add(vad.subscribe(watch.on_vad, observer.on_error))
            subs.add(transcripts.subscribe(watch.on_transcript, observer.on_error))
            subs.add(barge_in.subscribe(watch.on_barge_in, observer.on_error,
                                        observer.on_completed))
            return subs

        return Observable(subscribe)

    return _op


class FalseInterruption(Node):
    """Pause / resume / interrupt orders for playout (see the module docstring). Emits
    :class:`PlayoutControl` on ``control`` and :class:`FalseInterruptionExpired` on
    ``false_interruptions``."""

    Config = FalseInterruptionConfig
    inputs = (In("barge_in", BargeIn, doc="barge-in"),
              In("vad", VADEvent, doc="speech started / ended"),
              In("transcripts", SpeechEvent, doc="final transcript"),
              In("activity", AgentActivity, doc="agent activity"),
              In("turn", TurnOptions, required=False, doc="turn options"),
              In("answered", UserTurn, required=False, doc="turn answered"))
    outputs = (Out("control", PlayoutControl, doc="pause / resume / interrupt"),
               Out("false_interruptions", FalseInterruptionExpired,
                   doc="false interruption expired"))
    reads = ("false_interruption_timeout",)

    shows = ("resume_false_interruption",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, FalseInterruptionConfig)
        expired: LoopSubject[FalseInterruptionExpired] = LoopSubject()
        op = false_interruption(inputs["vad"], inputs["transcripts"], inputs["activity"],
                                scheduler=ctx.scheduler, config=cfg, options=inputs.get("turn"),
                                answered=inputs.get("answered"), expired=expired)
        return {"control": inputs["barge_in"].pipe(op), "false_interruptions": expired}
