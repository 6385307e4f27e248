"""Turn reply: committed user turns (and the session's own requests) become speeches.

Each committed turn (spoken, or typed: ``session.push_text``) gets one reply, by switch-latest
(:func:`nodes.reply.latest_reply`): a newer turn cancels an older one still in its hook. The
steps, in LiveKit's order:

1. at the commit, a ``supersede`` order goes to playout on ``control``: the interruptible
   speech in flight and the queued replies, all from before the turn, stop (a new turn's reply
   replaces them); when a speech stopped so, the agent is thinking until this turn's reply
   comes, not listening in between;
2. the user message (with the camera's newest frame under ``attach_video``) goes to the history
   on ``user``, then the agent's ``on_user_turn_completed`` hook runs (``StopResponse`` or a
   failure: no reply, and a ``settle`` order tells playout to stop waiting);
3. the reply: with preemptive generation, every final transcript has already started a
   *preemptive* speech (emitted unscheduled, so the LLM node, and the TTS node with
   ``preemptive_tts``, start early; nothing of it plays or enters the history before the
   commit; the user speaking again or a newer, different transcript cancels it). A preflight
   transcript (a batch STT's speculative result, inside the VAD's silence wait) starts one
   sooner still; the final that says the same keeps it, and speech again inside that silence
   wait (a VAD window with no silence, before any new START_OF_SPEECH) drops it.

When the user starts speaking, the LLM gets a hint (:meth:`~flowagents.llm.LLM.prewarm`, with the
conversation so far and the agent's tools; ``prewarm_llm``): a local model reads the
conversation while the user speaks instead of after the last word. A failed hint is reported
and changes nothing else.
   The committed turn reuses it only when the context it answered is the one the turn now
   has (same items, same new message, same tools: see :func:`~flowagents.voice.context
   .fingerprint`), else a fresh speech is made. It goes out on ``replies`` (the session lists
   it and announces ``speech_created``) and then on ``speeches``.

Speeches the session requests (``say``, ``generate_reply``) pass straight through. What the
node needs comes in through ports: the active agent and its turn options (a reply's
``allow_interruptions``) on ``agent``. End-of-utterance metrics go to the ``report_metrics``
resource; a user turn is traced as a ``user_turn`` span from the commit until its reply ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, NodeError, Out
from flowagents.llm import LLM, ChatContext, ChatMessage
from flowagents.metrics import EOUMetrics
from flowagents.runtime.bridge import from_coroutine
from flowagents.runtime.subject import LoopSubject
from flowagents.telemetry import spans
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.agent import Agent, StopResponse
from flowagents.voice.context import ContextBuilder, fingerprint
from flowagents.voice.options import default
from flowagents.voice.signals import ActiveAgent, PlayoutControl
from flowagents.voice.speech import Speech, SpeechHandle
from flowagents.voice.turns import UserTurn
from nodes.reply.latest_reply import latest_reply

__all__ = ["TurnReply", "TurnReplyConfig"]

_TRANSCRIPTS = (SpeechEventType.FINAL_TRANSCRIPT, SpeechEventType.PREFLIGHT_TRANSCRIPT)


class TurnReplyConfig(NodeConfig):
    preemptive_generation: bool = default("preemptive_generation")
    attach_video: bool = False
    prewarm_llm: bool = Field(
        True, description="when the user starts speaking, hint the LLM to read the "
                          "conversation (LLM.prewarm: a local model reads it then, not after "
                          "the last word)")


def _trace(speech: Speech, turn: UserTurn) -> None:
    """The ``user_turn`` span: from the commit until the reply has played (or stopped); ended
    by the handle's done callback, so a turn costs no task of its own."""
    span = spans.start_user_turn(speech_id=speech.id, transcript=turn.transcript)
    if span is None:
        return
    speech.span = span

    def end(handle: SpeechHandle) -> None:
        span.set_attribute("flowagents.interrupted", handle.interrupted)
        span.end()

    speech.handle.add_done_callback(end)


class _Turns:
    """One subscription's state: the agent in charge, the turn in the making, the preemptive
    reply and what it was built on."""

    __slots__ = ("active", "builder", "finals", "last_final_at", "last_turn", "preemptive",
                 "preemptive_key", "on_preflight")

    def __init__(self) -> None:
        self.active: ActiveAgent | None = None
        self.builder = ContextBuilder()
        self.finals: list[str] = []
        self.last_final_at: float | None = None
        self.last_turn: UserTurn | None = None
        self.preemptive: Speech | None = None
        self.preemptive_key: tuple[Any, ...] = ()
        self.on_preflight = False  # the preemptive answers a preflight (speculative) transcript

    def new_speech(self, agent: Agent, now: float, **fields: Any) -> Speech:
        active = self.active
        allow = active.options.allow_interruptions if active is not None else True
        handle = SpeechHandle(allow_interruptions=allow, source="generate_reply",
                              user_initiated=False)
        return Speech(handle, agent, created_at=now, replaces_current=True, **fields)

    def drop_preemptive(self) -> None:
        speech, self.preemptive = self.preemptive, None
        if speech is not None:
            speech.cancel()


class TurnReply(Node):
    """User turns to speeches (see the module docstring). Emits :class:`Speech` values."""

    Config = TurnReplyConfig
    inputs = (In("turns", UserTurn, doc="turn to answer"),
              In("transcripts", SpeechEvent, doc="final transcript"),
              In("vad", VADEvent, doc="speech started"),
              In("requests", Speech, doc="say / generate_reply"),
              In("agent", ActiveAgent, doc="active agent"))
    outputs = (Out("speeches", Speech, doc="speech"),
               Out("replies", Speech, doc="reply created"),
               Out("user", ChatMessage, doc="user message"),
               Out("control", PlayoutControl, doc="new turn interrupts"))

    reads = ("allow_interruptions",)
    shows = ("preemptive_generation",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, TurnReplyConfig)
        report: Callable[[Any], None] = ctx.resources.get("report_metrics") or (lambda m: None)
        video = ctx.resources.get("video")
        replies: LoopSubject[Speech] = LoopSubject()
        users: LoopSubject[ChatMessage] = LoopSubject()
        control: LoopSubject[PlayoutControl] = LoopSubject()
        now = ctx.now

        def subscribe(observer: abc.ObserverBase[Speech],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            st = _Turns()

            def on_agent(active: ActiveAgent) -> None:
                st.active = active

            def preempt(transcript: str, preflight: bool) -> None:
                st.on_preflight = preflight
                if st.active is None:
                    st.drop_preemptive()
                    return
                agent = st.active.agent
                chat_ctx = st.builder.with_user_message(agent, transcript, now())
                key = fingerprint(chat_ctx.items, agent)
                if (st.preemptive is not None and st.preemptive.agent is agent
                        and st.preemptive_key == key):
                    return  # the same reply: the one started on the preflight goes on
                st.drop_preemptive()
                speech = st.new_speech(agent, now(), chat_ctx=chat_ctx, preemptive=True,
                                       scheduled=False)
                st.preemptive, st.preemptive_key = speech, key
                observer.on_next(speech)

            def on_transcript(event: SpeechEvent) -> None:
                kind = event.type
                if kind not in _TRANSCRIPTS or not event.text.strip():
                    return
                if kind is SpeechEventType.PREFLIGHT_TRANSCRIPT:
                    if cfg.preemptive_generation:
                        preempt(" ".join([*st.finals, event.text.strip()]), True)
                    return
                st.last_final_at = now()
                last = st.last_turn
                if last is not None and any(event is t for t in last.transcripts):
                    return  # the turn this transcript completed has already committed
                st.finals.append(event.text.strip())
                if cfg.preemptive_generation:
                    preempt(" ".join(st.finals), False)

            def on_vad(event: VADEvent) -> None:
                kind = event.type
                if kind is VADEventType.START_OF_SPEECH:
                    prewarm()
                if kind is VADEventType.START_OF_SPEECH or (
                        kind is VADEventType.INFERENCE_DONE and st.on_preflight
                        and event.speaking and event.silence_duration == 0.0
                        and st.preemptive is not None):
                    # the user goes on: a new segment, or speech again inside the VAD's
                    # silence wait after a preflight (no new START: its reply answered words
                    # the user is still adding to; the STT node drops its speculation at the
                    # same window). A streaming STT's final may come before the VAD has
                    # heard the end of the words: speech then does not make it stale.
                    st.drop_preemptive()

            def prewarm() -> None:
                """The user started speaking: the LLM may read the conversation now."""
                active = st.active
                if active is None or not cfg.prewarm_llm:
                    return
                agent = active.agent
                try:
                    llm = agent.session.llm
                except RuntimeError:  # an agent outside a session: no LLM to hint
                    return
                if isinstance(llm, LLM):
                    try:
                        llm.prewarm(chat_ctx=ChatContext.model_construct(
                            items=st.builder.items(agent)), tools=agent.tools)
                    except Exception as exc:  # a hint: its failure is reported, never fatal
                        ctx.report_error(NodeError("llm.prewarm", None, exc))

            def eou(turn: UserTurn, committed: float, speech_id: str) -> None:
                if turn.typed:
                    return  # a typed turn has no end of utterance to measure
                final = st.last_final_at if st.last_final_at is not None else turn.speech_end
                report(EOUMetrics(
                    committed, end_of_utterance_delay=turn.committed_at - turn.speech_end,
                    transcription_delay=max(0.0, final - turn.speech_end),
                    on_user_turn_completed_delay=now() - committed, speech_id=speech_id))

            async def answer(turn: UserTurn, preemptive: Speech | None,
                             key: tuple[Any, ...]) -> Speech | None:
                assert st.active is not None
                agent = st.active.agent
                committed = now()
                message = ChatMessage(role="user", content=[turn.transcript],
                                      created_at=committed)
                if cfg.attach_video and video is not None:
                    image = await video.capture_image()
                    if image is not None:
                        message.content.append(image)
                users.on_next(message)
                try:
                    if type(agent).on_user_turn_completed is not Agent.on_user_turn_completed:
                        # a new list sharing the agent's items (LiveKit's turn_ctx), not a deep
                        # copy of the conversation per turn; the base hook does nothing
                        turn_ctx = ChatContext.model_construct(items=list(agent._chat_ctx.items))
                        await agent.on_user_turn_completed(turn_ctx, message)
                except StopResponse:
                    eou(turn, committed, "")
                    raise
                items = st.builder.items(agent)
                if (preemptive is not None and preemptive.agent is agent
                        and fingerprint(items, agent) == key):
                    speech = preemptive
                    speech.schedule()
                else:
                    if preemptive is not None:
                        preemptive.cancel()
                    speech = st.new_speech(agent, now(),
                                           chat_ctx=ChatContext.model_construct(items=items))
                speech.user_turn = turn
                _trace(speech, turn)
                eou(turn, committed, speech.id)
                replies.on_next(speech)
                return speech

            def make_reply(turn: UserTurn) -> Observable[Speech]:
                preemptive: Speech | None = None
                key: tuple[Any, ...] = ()
                if not turn.typed:
                    preemptive, key = st.preemptive, st.preemptive_key
                    st.preemptive, st.finals, st.last_turn = None, [], turn
                control.on_next(PlayoutControl("supersede", None, turn.committed_at))

                async def run() -> Speech | None:
                    try:
                        return await answer(turn, preemptive, key)
                    except BaseException as exc:
                        if preemptive is not None:
                            preemptive.cancel()
                        if isinstance(exc, asyncio.CancelledError):
                            raise  # a newer turn replaced this one: its reply is awaited
                        control.on_next(PlayoutControl("settle", None, now()))
                        if isinstance(exc, StopResponse):
                            return None
                        raise

                return from_coroutine(run, ctx.loop, skip_none=True)  # type: ignore[arg-type]

            def failed(exc: Exception) -> None:
                ctx.report_error(NodeError("on_user_turn_completed", None, exc))

            answered = inputs["turns"].pipe(latest_reply(make_reply, on_error=failed))
            return CompositeDisposable(
                inputs["agent"].subscribe(on_agent, observer.on_error),
                inputs["transcripts"].subscribe(on_transcript, observer.on_error),
                inputs["vad"].subscribe(on_vad, observer.on_error),
                inputs["requests"].subscribe(observer.on_next, observer.on_error),
                answered.subscribe(observer.on_next, observer.on_error, observer.on_completed),
            )

        return {"speeches": Observable(subscribe), "replies": replies, "user": users,
                "control": control}

