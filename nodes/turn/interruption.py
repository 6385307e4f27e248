"""Interruption: decide when the user's speech interrupts the agent (a barge-in).

LiveKit Agents' rule: while a speech is in flight (the agent thinking or speaking) and it allows
interruptions, user speech interrupts it once it has lasted ``min_interruption_duration`` (0.5 s,
measured from the VAD's dated start of speech), or once a final transcript with words arrives.
With ``min_interruption_words`` > 0 both paths also need that many words in what the user said
since speech started (interims replace, finals accumulate). One barge-in per speech at most; a
paused speech (false-interruption candidate) is not barged in again. The duration check is a
timer at ``start + min_interruption_duration`` on the job's scheduler, cancelled by the end of
speech, so it works with VADs that only report start and end. The optional ``turn`` input (the
active agent's :class:`~flowagents.voice.options.TurnOptions`) replaces both thresholds from the
next start of speech on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out, register_type
from flowagents.runtime.scheduler import seconds
from flowagents.tokenize import split_words
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.options import TurnOptions
from flowagents.voice.signals import AgentActivity

__all__ = ["BargeIn", "Interruption", "InterruptionConfig", "interruption"]


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The user interrupted speech ``speech_id`` at ``time`` (having said ``words`` words)."""

    speech_id: str
    time: float
    words: int = 0
    by_transcript: bool = False


register_type(BargeIn)
register_type(AgentActivity)


class InterruptionConfig(NodeConfig):
    min_interruption_duration: float = Field(0.5, ge=0.0)
    min_interruption_words: int = Field(0, ge=0)


def interruption(transcripts: Observable[SpeechEvent], activity: Observable[AgentActivity], *,
                 scheduler: abc.SchedulerBase, config: InterruptionConfig,
                 options: Observable[TurnOptions] | None = None) -> Any:
    """``vad.pipe(interruption(transcripts, activity, ...))``: the barge-ins."""

    def _op(vad: Observable[VADEvent]) -> Observable[BargeIn]:
        def subscribe(observer: abc.ObserverBase[BargeIn],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state: dict[str, Any] = {
                "min_duration": config.min_interruption_duration,
                "min_words": config.min_interruption_words, "agent": None, "speaking": False,
                "long_enough": False, "final_words": 0, "interim_words": 0, "timer": None,
                "barged": set(),
            }

            def words() -> int:
                return int(state["final_words"] + state["interim_words"])

            def cancel_timer() -> None:
                if state["timer"] is not None:
                    state["timer"].dispose()
                    state["timer"] = None

            def check(by_transcript: bool = False) -> None:
                agent: AgentActivity | None = state["agent"]
                if agent is None or not agent.busy or agent.paused:
                    return
                if not agent.allow_interruptions or agent.speech_id in state["barged"]:
                    return
                if not (state["long_enough"] or by_transcript):
                    return
                min_words = state["min_words"]
                if min_words > 0 and words() < min_words:
                    return
                state["barged"].add(agent.speech_id)
                observer.on_next(BargeIn(str(agent.speech_id), seconds(scheduler), words(),
                                         by_transcript))

            def on_timer(_s: abc.SchedulerBase, _st: Any = None) -> None:
                state["timer"] = None
                state["long_enough"] = True
                check()

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.START_OF_SPEECH and not state["speaking"]:
                    state.update(speaking=True, long_enough=False, final_words=0, interim_words=0)
                    cancel_timer()
                    due = event.timestamp + state["min_duration"]
                    if due <= seconds(scheduler):
                        on_timer(scheduler)
                    else:
                        state["timer"] = scheduler.schedule_absolute(due, on_timer)
                elif event.type is VADEventType.INFERENCE_DONE and state["speaking"]:
                    if event.speech_duration >= state["min_duration"] and not state["long_enough"]:
                        cancel_timer()
                        on_timer(scheduler)
                elif event.type is VADEventType.END_OF_SPEECH and state["speaking"]:
                    state.update(speaking=False, long_enough=False)
                    cancel_timer()

            def on_transcript(event: SpeechEvent) -> None:
                count = len(split_words(event.text))
                if event.type is SpeechEventType.INTERIM_TRANSCRIPT:
                    state["interim_words"] = count
                    check()
                elif event.type is SpeechEventType.FINAL_TRANSCRIPT:
                    state["final_words"] += count
                    state["interim_words"] = 0
                    check(by_transcript=count > 0)

            def on_activity(agent: AgentActivity) -> None:
                state["agent"] = agent
                if not agent.busy:
                    state["barged"].clear()
                check()

            def on_options(turn: TurnOptions) -> None:
                state.update(min_duration=turn.min_interruption_duration,
                             min_words=turn.min_interruption_words)

            return CompositeDisposable(
                options.subscribe(on_options, observer.on_error) if options is not None
                else Disposable(),
                activity.subscribe(on_activity, observer.on_error),
                transcripts.subscribe(on_transcript, observer.on_error),
                vad.subscribe(on_vad, observer.on_error, observer.on_completed),
                Disposable(cancel_timer),
            )

        return Observable(subscribe)

    return _op


class Interruption(Node):
    """Barge-in detection (see the module docstring). Emits :class:`BargeIn` on ``barge_in``."""

    Config = InterruptionConfig
    inputs = (In("vad", VADEvent), In("transcripts", SpeechEvent),
              In("activity", AgentActivity), In("turn", TurnOptions, required=False))
    outputs = (Out("barge_in", BargeIn),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, InterruptionConfig)
        op = interruption(inputs["transcripts"], inputs["activity"], scheduler=ctx.scheduler,
                          config=cfg, options=inputs.get("turn"))
        return {"barge_in": inputs["vad"].pipe(op)}
