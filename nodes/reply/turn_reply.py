"""Turn reply: committed user turns (and the session's own requests) become speeches.

Each committed turn becomes one reply, by switch-latest (:func:`nodes.reply.latest_reply`): the
session records the user message, runs the agent's ``on_user_turn_completed`` hook, and returns
the speech to play; a newer turn cancels an older one still in its hook. With preemptive
generation, every final transcript starts a *preemptive* speech at once (emitted unscheduled, so
the LLM node, and the TTS node with ``preemptive_tts``, start its work early); a new start of
speech or a newer transcript cancels it, and the committed turn reuses it only if the session
finds its transcript and chat context unchanged. Speeches the session requests (``say``,
``generate_reply``) pass straight through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.runtime.bridge import from_coroutine
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.speech import Speech
from flowagents.voice.turns import UserTurn
from nodes.reply.latest_reply import latest_reply

__all__ = ["TurnReply", "TurnReplyConfig", "TurnSession"]


class TurnSession(Protocol):
    """What the node needs from the session (``AgentSession`` implements it)."""

    def preempt(self, transcript: str) -> Speech | None: ...

    async def user_turn(self, turn: UserTurn, preemptive: Speech | None) -> Speech | None: ...

    def report_error(self, error: Exception, source: Any) -> None: ...


class TurnReplyConfig(NodeConfig):
    preemptive_generation: bool = True


class TurnReply(Node):
    """User turns to speeches (see the module docstring). Emits :class:`Speech` values."""

    Config = TurnReplyConfig
    inputs = (In("turns", UserTurn), In("transcripts", SpeechEvent), In("vad", VADEvent),
              In("requests", Speech))
    outputs = (Out("speeches", Speech),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, TurnReplyConfig)
        session: TurnSession = ctx.resources["session"]
        turns, transcripts, vad = inputs["turns"], inputs["transcripts"], inputs["vad"]

        def subscribe(observer: abc.ObserverBase[Speech],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state: dict[str, Any] = {"finals": [], "preemptive": None, "turn": None}

            def drop_preemptive() -> None:
                speech: Speech | None = state["preemptive"]
                state["preemptive"] = None
                if speech is not None:
                    speech.cancel()

            def on_transcript(event: SpeechEvent) -> None:
                if event.type is not SpeechEventType.FINAL_TRANSCRIPT or not event.text.strip():
                    return
                last: UserTurn | None = state["turn"]
                if last is not None and any(event is t for t in last.transcripts):
                    return  # the turn this transcript completed has already committed
                state["finals"].append(event.text.strip())
                if cfg.preemptive_generation:
                    drop_preemptive()
                    speech = session.preempt(" ".join(state["finals"]))
                    if speech is not None:
                        state["preemptive"] = speech
                        observer.on_next(speech)

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.START_OF_SPEECH:
                    drop_preemptive()

            def make_reply(turn: UserTurn) -> Observable[Speech]:
                preemptive, state["preemptive"] = state["preemptive"], None
                state["finals"] = []
                state["turn"] = turn

                async def run() -> Speech | None:
                    try:
                        return await session.user_turn(turn, preemptive)
                    except BaseException:
                        if preemptive is not None:
                            preemptive.cancel()
                        raise

                return from_coroutine(run, ctx.loop, skip_none=True)  # type: ignore[arg-type]

            replies = turns.pipe(latest_reply(
                make_reply, on_error=lambda e: session.report_error(e, "on_user_turn_completed")))
            return CompositeDisposable(
                transcripts.subscribe(on_transcript, observer.on_error),
                vad.subscribe(on_vad, observer.on_error),
                inputs["requests"].subscribe(observer.on_next, observer.on_error),
                replies.subscribe(observer.on_next, observer.on_error, observer.on_completed),
            )

        return {"speeches": Observable(subscribe)}
