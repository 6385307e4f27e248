"""False interruption: pause on a barge-in, resume if the user said nothing after all.

A cough or a "hmm" must not kill the agent's answer. LiveKit Agents' rule: when the user barges
in while the agent is speaking and the audio output can pause (``can_pause``, with
``resume_false_interruption``), playout is *paused* (the agent goes back to listening); a
barge-in while the agent is only thinking, or on an output that cannot pause, interrupts at once.
A barge-in by a final transcript is a real interruption (interrupted at once, nothing to watch).
Otherwise the barged-in speech is watched: once the user stops speaking, a timer of
``false_interruption_timeout`` (2.0 s) starts (speech starting again stops it); a final
transcript with words (``min_interruption_words``, at least one) makes the interruption real (a
paused speech is interrupted for good) and ends the watch. When the timer fires:

* the paused speech is still the one in flight: playout resumes it (the session then emits
  ``agent_false_interruption(resumed=True)``);
* no speech is in flight, or the watched one is but cannot resume (it was interrupted at once):
  a :class:`~flowagents.voice.signals.FalseInterruptionExpired` goes out on ``false_interruptions``
  (the session emits ``agent_false_interruption(resumed=False)``, so the app may reply again);
* another speech is in flight: nothing (the conversation moved on).

The node turns barge-ins into :class:`~flowagents.voice.signals.PlayoutControl` orders; the timer
runs on the job's scheduler. The optional ``turn`` input (the active agent's turn options)
replaces ``false_interruption_timeout`` and ``min_interruption_words``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.subject import Subject

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out, register_type
from flowagents.runtime.scheduler import seconds
from flowagents.tokenize import split_words
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.options import TurnOptions
from flowagents.voice.signals import AgentActivity, FalseInterruptionExpired, PlayoutControl
from nodes.turn.interruption import BargeIn

__all__ = ["FalseInterruption", "FalseInterruptionConfig", "false_interruption"]

register_type(PlayoutControl)
register_type(FalseInterruptionExpired)


class FalseInterruptionConfig(NodeConfig):
    can_pause: bool = True
    resume_false_interruption: bool = True
    false_interruption_timeout: float | None = Field(2.0, ge=0.0)
    min_interruption_words: int = Field(0, ge=0)


def false_interruption(vad: Observable[VADEvent], transcripts: Observable[SpeechEvent],
                       activity: Observable[AgentActivity], *, scheduler: abc.SchedulerBase,
                       config: FalseInterruptionConfig,
                       options: Observable[TurnOptions] | None = None,
                       expired: abc.ObserverBase[FalseInterruptionExpired] | None = None) -> Any:
    """``barge_in.pipe(false_interruption(vad, transcripts, activity, ...))``: playout orders;
    timed-out barge-ins whose speech did not resume go to ``expired``."""

    def _op(barge_in: Observable[BargeIn]) -> Observable[PlayoutControl]:
        def subscribe(observer: abc.ObserverBase[PlayoutControl],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state: dict[str, Any] = {
                "agent": None, "watched": None, "paused": False, "timer": None,
                "speaking": False, "timeout": config.false_interruption_timeout,
                "words": config.min_interruption_words,
            }

            def now() -> float:
                return seconds(scheduler)

            def cancel_timer() -> None:
                if state["timer"] is not None:
                    state["timer"].dispose()
                    state["timer"] = None

            def order(action: Any, speech_id: str) -> None:
                observer.on_next(PlayoutControl(action, speech_id, now()))

            def unwatch() -> None:
                cancel_timer()
                state.update(watched=None, paused=False)

            def on_timer(_s: abc.SchedulerBase, _st: Any = None) -> None:
                state["timer"] = None
                speech_id, paused = state["watched"], state["paused"]
                unwatch()
                agent: AgentActivity | None = state["agent"]
                in_flight = agent.speech_id if agent is not None else None
                if paused and in_flight == speech_id:
                    order("resume", speech_id)
                elif (in_flight is None or in_flight == speech_id) and expired is not None:
                    expired.on_next(FalseInterruptionExpired(speech_id, now()))

            def start_timer() -> None:
                cancel_timer()
                if state["timeout"] is not None:
                    due = now() + state["timeout"]
                    state["timer"] = scheduler.schedule_absolute(due, on_timer)

            def on_barge_in(b: BargeIn) -> None:
                agent: AgentActivity | None = state["agent"]
                speaking = agent is not None and agent.state == "speaking"
                unwatch()
                if b.by_transcript:
                    order("interrupt", b.speech_id)
                    return
                may_pause = (config.can_pause and config.resume_false_interruption
                             and state["timeout"] is not None)
                pause = may_pause and speaking
                order("pause" if pause else "interrupt", b.speech_id)
                state.update(watched=b.speech_id, paused=pause)
                if not state["speaking"]:
                    start_timer()

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.START_OF_SPEECH:
                    state["speaking"] = True
                    cancel_timer()
                elif event.type is VADEventType.END_OF_SPEECH:
                    state["speaking"] = False
                    if state["watched"] is not None:
                        start_timer()

            def on_transcript(event: SpeechEvent) -> None:
                if event.type is not SpeechEventType.FINAL_TRANSCRIPT or state["watched"] is None:
                    return
                if len(split_words(event.text)) >= max(1, state["words"]):
                    speech_id, paused = state["watched"], state["paused"]
                    unwatch()
                    if paused:
                        order("interrupt", speech_id)

            def on_activity(agent: AgentActivity) -> None:
                state["agent"] = agent
                if state["paused"] and agent.speech_id != state["watched"]:
                    state["paused"] = False  # the paused speech ended: nothing left to resume

            def on_options(turn: TurnOptions) -> None:
                state.update(timeout=turn.false_interruption_timeout,
                             words=turn.min_interruption_words)

            subs = CompositeDisposable()
            if options is not None:
                subs.add(options.subscribe(on_options, observer.on_error))
            subs.add(activity.subscribe(on_activity, observer.on_error))
            subs.add(vad.subscribe(on_vad, observer.on_error))
            subs.add(transcripts.subscribe(on_transcript, observer.on_error))
            subs.add(barge_in.subscribe(on_barge_in, observer.on_error, observer.on_completed))
            subs.add(Disposable(cancel_timer))
            return subs

        return Observable(subscribe)

    return _op


class FalseInterruption(Node):
    """Pause / resume / interrupt orders for playout (see the module docstring). Emits
    :class:`PlayoutControl` on ``control`` and :class:`FalseInterruptionExpired` on
    ``false_interruptions``."""

    Config = FalseInterruptionConfig
    inputs = (In("barge_in", BargeIn), In("vad", VADEvent), In("transcripts", SpeechEvent),
              In("activity", AgentActivity), In("turn", TurnOptions, required=False))
    outputs = (Out("control", PlayoutControl),
               Out("false_interruptions", FalseInterruptionExpired))

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, FalseInterruptionConfig)
        expired: Subject[FalseInterruptionExpired] = Subject()
        op = false_interruption(inputs["vad"], inputs["transcripts"], inputs["activity"],
                                scheduler=ctx.scheduler, config=cfg, options=inputs.get("turn"),
                                expired=expired)
        return {"control": inputs["barge_in"].pipe(op), "false_interruptions": expired}
