"""False interruption: pause on a barge-in, resume if the user said nothing after all.

A cough or a "hmm" must not kill the agent's answer. LiveKit Agents' rule: when the user barges
in while the agent is speaking and the audio output can pause (``can_pause``, with
``resume_false_interruption``), playout is *paused* (the agent goes back to listening). If no
words arrive within ``false_interruption_timeout`` (2.0 s) after the user stops speaking, playout
resumes (the session then emits ``agent_false_interruption(resumed=True)``); a final transcript
with words interrupts the speech for good. A barge-in while the agent is only thinking, by a final
transcript, or on an output that cannot pause interrupts at once. The node turns barge-ins into
:class:`~flowagents.voice.signals.PlayoutControl` orders; the timer runs on the job's scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out, register_type
from flowagents.runtime.scheduler import seconds
from flowagents.tokenize import split_words
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.signals import AgentActivity, PlayoutControl

from .interruption import BargeIn

__all__ = ["FalseInterruption", "FalseInterruptionConfig", "false_interruption"]

register_type(PlayoutControl)


class FalseInterruptionConfig(NodeConfig):
    can_pause: bool = True
    resume_false_interruption: bool = True
    false_interruption_timeout: float | None = Field(2.0, ge=0.0)
    min_interruption_words: int = Field(0, ge=0)


def false_interruption(vad: Observable[VADEvent], transcripts: Observable[SpeechEvent],
                       activity: Observable[AgentActivity], *, scheduler: abc.SchedulerBase,
                       config: FalseInterruptionConfig) -> Any:
    """``barge_in.pipe(false_interruption(vad, transcripts, activity, ...))``: playout orders."""
    timeout = config.false_interruption_timeout
    may_pause = config.can_pause and config.resume_false_interruption and timeout is not None
    needed_words = max(1, config.min_interruption_words)

    def _op(barge_in: Observable[BargeIn]) -> Observable[PlayoutControl]:
        def subscribe(observer: abc.ObserverBase[PlayoutControl],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state: dict[str, Any] = {"agent": None, "paused": None, "timer": None,
                                     "speaking": False}

            def now() -> float:
                return seconds(scheduler)

            def cancel_timer() -> None:
                if state["timer"] is not None:
                    state["timer"].dispose()
                    state["timer"] = None

            def order(action: Any, speech_id: str) -> None:
                observer.on_next(PlayoutControl(action, speech_id, now()))

            def settle(action: Any) -> None:
                speech_id = state["paused"]
                cancel_timer()
                state["paused"] = None
                if speech_id is not None:
                    order(action, speech_id)

            def on_timer(_s: abc.SchedulerBase, _st: Any = None) -> None:
                state["timer"] = None
                settle("resume")

            def start_timer() -> None:
                cancel_timer()
                assert timeout is not None
                state["timer"] = scheduler.schedule_absolute(now() + timeout, on_timer)

            def on_barge_in(b: BargeIn) -> None:
                agent: AgentActivity | None = state["agent"]
                speaking = agent is not None and agent.state == "speaking"
                if may_pause and speaking and not b.by_transcript:
                    state["paused"] = b.speech_id
                    order("pause", b.speech_id)
                    if not state["speaking"]:
                        start_timer()
                else:
                    order("interrupt", b.speech_id)

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.START_OF_SPEECH:
                    state["speaking"] = True
                    cancel_timer()
                elif event.type is VADEventType.END_OF_SPEECH:
                    state["speaking"] = False
                    if state["paused"] is not None:
                        start_timer()

            def on_transcript(event: SpeechEvent) -> None:
                if event.type is not SpeechEventType.FINAL_TRANSCRIPT:
                    return
                if state["paused"] is not None and len(split_words(event.text)) >= needed_words:
                    settle("interrupt")

            def on_activity(agent: AgentActivity) -> None:
                state["agent"] = agent
                if state["paused"] is not None and agent.speech_id != state["paused"]:
                    cancel_timer()
                    state["paused"] = None

            return CompositeDisposable(
                activity.subscribe(on_activity, observer.on_error),
                vad.subscribe(on_vad, observer.on_error),
                transcripts.subscribe(on_transcript, observer.on_error),
                barge_in.subscribe(on_barge_in, observer.on_error, observer.on_completed),
                Disposable(cancel_timer),
            )

        return Observable(subscribe)

    return _op


class FalseInterruption(Node):
    """Pause / resume / interrupt orders for playout (see the module docstring)."""

    Config = FalseInterruptionConfig
    inputs = (In("barge_in", BargeIn), In("vad", VADEvent), In("transcripts", SpeechEvent),
              In("activity", AgentActivity))
    outputs = (Out("control", PlayoutControl),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, FalseInterruptionConfig)
        op = false_interruption(inputs["vad"], inputs["transcripts"], inputs["activity"],
                                scheduler=ctx.scheduler, config=cfg)
        return {"control": inputs["barge_in"].pipe(op)}
