"""Turn detector node: an end-of-turn probability for the endpointing node, per final transcript.

Each final transcript of the user's turn (joined with the earlier ones of the same turn) is put
as the last user message of the active agent's chat context (the agent comes in on ``agent``),
and the active
:class:`~flowagents.voice.TurnDetector` (``Agent(turn_detection=)``, else the session's) scores it;
the probability goes to :class:`~nodes.endpointing.Endpointing`, which waits
``max_endpointing_delay`` when it is below the detector's ``unlikely_threshold``. A prediction is
async (a model may run in an executor): a newer transcript or the user speaking again cancels the
one in flight (switch-latest), so a stale score never reaches endpointing. A committed turn (the
``committed`` feedback from endpointing) starts a new text. The user message carries the STT's
confidence in the newest final transcript (``ChatMessage.transcript_confidence``; a confidence of
0, ``SpeechData``'s default, counts as not reported), so a detector can doubt a transcript that
may be misheard. With no detector active, each final
transcript scores 1.0 at once (the end of speech is the end of the turn); a failing detector is
reported and scores 1.0 too.

:class:`HeuristicTurnDetector` (defined with the interface in :mod:`flowagents.voice.turn_detector`,
so providers' option sets can name it too, and re-exported here) is a cheap offline detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, NodeError, Out
from flowagents.llm import ChatContext, ChatMessage
from flowagents.runtime.bridge import from_coroutine
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.agent import Agent
from flowagents.voice.context import ContextBuilder
from flowagents.voice.signals import ActiveAgent
from flowagents.voice.turn_detector import HeuristicTurnDetector, TurnDetector
from flowagents.voice.turns import UserTurn

__all__ = ["HeuristicTurnDetector", "TurnDetectorNode"]



class TurnDetectorNode(Node):
    """End-of-turn probabilities (see the module docstring). Emits floats on ``probability``."""

    inputs = (In("transcripts", SpeechEvent, doc="final transcript"),
              In("vad", VADEvent, doc="speech started"),
              In("agent", ActiveAgent, required=False, doc="active agent"),
              In("committed", UserTurn, required=False, doc="turn committed"))
    outputs = (Out("probability", float, doc="end-of-turn probability"),)

    def __init__(self, detector: TurnDetector | None = None, config: NodeConfig | None = None,
                 *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.detector = detector

    def default_name(self) -> str:
        return "turn_detector"

    reads = ("turn_detection",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        default = self.detector
        loop = ctx.loop

        def subscribe(observer: abc.ObserverBase[float],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            finals: list[str] = []
            detector = default
            agent: Agent | None = None
            builder = ContextBuilder()
            pending = SerialDisposable()

            def context(text: str, confidence: float | None) -> ChatContext:
                if agent is not None:
                    return builder.with_user_message(agent, text, ctx.now(), confidence)
                return ChatContext([ChatMessage(role="user", content=[text],
                                                transcript_confidence=confidence)])

            def failed(exc: Exception) -> None:
                ctx.report_error(NodeError(ctx.node, "probability", exc))
                observer.on_next(1.0)

            def on_transcript(event: SpeechEvent) -> None:
                if event.type is not SpeechEventType.FINAL_TRANSCRIPT or not event.text.strip():
                    return
                finals.append(event.text.strip())
                active = detector
                if active is None:
                    pending.disposable = Disposable()
                    observer.on_next(1.0)
                    return
                reported = event.alternatives[0].confidence
                chat_ctx = context(" ".join(finals), reported if reported > 0 else None)
                prediction = from_coroutine(lambda: active.predict_end_of_turn(chat_ctx), loop)
                pending.disposable = prediction.subscribe(
                    lambda p: observer.on_next(min(1.0, max(0.0, float(p)))), failed)

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.START_OF_SPEECH:
                    pending.disposable = Disposable()

            def on_committed(_turn: UserTurn) -> None:
                finals.clear()
                pending.disposable = Disposable()

            def on_agent(active: ActiveAgent) -> None:
                nonlocal agent, detector
                agent, detector = active.agent, active.options.turn_detection

            subs = CompositeDisposable(pending)
            if "agent" in inputs:
                subs.add(inputs["agent"].subscribe(on_agent, observer.on_error))
            if "committed" in inputs:
                subs.add(inputs["committed"].subscribe(on_committed, observer.on_error))
            subs.add(inputs["vad"].subscribe(on_vad, observer.on_error))
            subs.add(inputs["transcripts"].subscribe(on_transcript, observer.on_error,
                                                     observer.on_completed))
            return subs

        return {"probability": Observable(subscribe)}
