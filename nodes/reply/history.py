"""Chat history: what the conversation records, in order, and the active agent's context.

Four things enter the history, each from the node that knows it: the user's message of a
committed turn (from the turn reply, before the agent's ``on_user_turn_completed`` hook, which
may still edit it), the agent's text *as played* (from playout: one message per step, cut where
an interruption stopped the audio, marked ``interrupted``), a reply's tool calls and their
outputs (from the LLM reply, once the text before the calls has played) and a handoff record
(from the active agent). Messages, calls and outputs also go into the active agent's own
context (what its next reply sees) and onto their speech's handle (``chat_items``). Messages the
session adds itself (``generate_reply(user_input=...)``) come in on ``messages``.

Emits every recorded item on ``items``: the session appends them to its history and announces
the messages (``conversation_item_added``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, Out, register_type
from flowagents.llm import ChatItem, ChatMessage
from flowagents.voice.agent import Agent
from flowagents.voice.signals import ActiveAgent, PlaybackEvent, ToolRound
from flowagents.voice.speech import Speech

__all__ = ["ChatHistory"]

register_type(ToolRound)
register_type(ChatItem, "ChatItem")


class _Recorder:
    """One subscription's state: the agent in charge, and where recorded items go."""

    __slots__ = ("agent", "emit")

    def __init__(self, emit: Any) -> None:
        self.agent: Agent | None = None
        self.emit = emit

    def record(self, item: ChatItem, speech: Speech | None = None) -> None:
        if self.agent is not None:
            self.agent._chat_ctx.insert(item)
        if speech is not None:
            speech.handle.chat_items.append(item)
        self.emit(item)

    def on_agent(self, active: ActiveAgent) -> None:
        self.agent = active.agent

    def on_playback(self, event: PlaybackEvent) -> None:
        result, speech = event.step, event.speech
        if event.kind != "step_done" or result is None or not result.text:
            return
        if speech.say_text is not None and not speech.add_to_chat_ctx:
            return
        self.record(ChatMessage(
            role="assistant", content=[result.text], interrupted=result.interrupted,
            created_at=result.started_at if result.started_at is not None else event.time),
            speech)

    def on_tools(self, round_: ToolRound) -> None:
        for execution in round_.executions:
            self.record(execution.call.model_copy(update={"created_at": round_.time}),
                        round_.speech)
            if execution.output is not None:
                self.record(execution.output.model_copy(update={"created_at": round_.time}),
                            round_.speech)


class ChatHistory(Node):
    """Records the conversation (see the module docstring). Emits :class:`ChatItem` values."""

    inputs = (In("agent", ActiveAgent),
              In("user", ChatMessage, required=False, doc="user message"),
              In("messages", ChatItem, required=False, doc="session message"),
              In("playback", PlaybackEvent, required=False, doc="text played"),
              In("tools", ToolRound, required=False, doc="tools executed"),
              In("handoffs", ChatItem, required=False, doc="handoff record"))
    outputs = (Out("items", ChatItem, doc="history item"),)

    def default_name(self) -> str:
        return "chat_history"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        def subscribe(observer: abc.ObserverBase[ChatItem],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            rec = _Recorder(observer.on_next)
            subs = CompositeDisposable(inputs["agent"].subscribe(rec.on_agent, observer.on_error))
            for port, handle in (("user", rec.record), ("messages", rec.record),
                                 ("playback", rec.on_playback), ("tools", rec.on_tools),
                                 ("handoffs", observer.on_next)):
                if port in inputs:
                    subs.add(inputs[port].subscribe(handle, observer.on_error))
            return subs

        return {"items": Observable(subscribe)}
