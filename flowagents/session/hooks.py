"""What the voice graph's nodes ask of the session, and user turns that do not come from speech.

The graph decides *when*; these methods decide *what*: the chat context a turn detector scores,
the preemptive reply to a final transcript, the reply to a committed user turn (the user message,
an optional camera frame, the agent's ``on_user_turn_completed`` hook), the record of tool calls
and handoffs. Text from the user (``push_text``, a :class:`~flowagents.voice.io.TextInput`)
interrupts the agent and is a user turn like a spoken one. :class:`SessionHooks` is a part of
:class:`~flowagents.voice.AgentSession`, split out to keep each file small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flowagents.errors import NOT_GIVEN, NotGiven
from flowagents.llm import ChatContext, ChatItem, ChatMessage, ImageContent, ToolExecution
from flowagents.metrics import AgentMetrics, EOUMetrics
from flowagents.telemetry import spans
from flowagents.voice.agent import Agent, StopResponse
from flowagents.voice.events import AgentEvent, FunctionToolsExecutedEvent, SpeechSource
from flowagents.voice.speech import Speech, SpeechHandle, StepResult

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from flowagents.voice.io import SessionIO
    from flowagents.voice.turns import UserTurn

__all__ = ["SessionHooks"]


def _content(item: ChatItem) -> tuple[Any, ...]:
    if item.type == "message":
        images = tuple(c.id for c in item.content if isinstance(c, ImageContent))
        return ("message", item.role, item.text_content, images)
    if item.type == "function_call":
        return ("call", item.name, item.arguments)
    if item.type == "function_call_output":
        return ("output", item.name, item.output)
    return (item.type,)


def _fingerprint(items: Sequence[ChatItem]) -> tuple[Any, ...]:
    """What a preemptive reply depends on: the newest item (the user's message) by content, and
    every item before it by identity. Contexts built by the session share the history's items and
    one instructions message per distinct instructions (never copies, see ``_llm_context``), so
    this costs a pointer comparison per item, not a copy or a string join of the whole
    conversation per turn (a context replaced by a copy compares by value, id included, and so
    counts as changed; so do instructions changed in between)."""
    if not items:
        return ()
    return (tuple(items[:-1]), _content(items[-1]))


class SessionHooks:
    """The node-facing half of :class:`~flowagents.voice.AgentSession` (see the module
    docstring)."""

    if TYPE_CHECKING:
        _agent: Agent | None
        _closed: bool
        _io: SessionIO
        _last_final_at: float | None
        _preempted: dict[str, tuple[Any, ...]]
        attach_video: bool

        @property
        def current_agent(self) -> Agent: ...
        def now(self) -> float: ...
        def _add_item(self, item: ChatItem) -> None: ...
        def _emit(self, event: AgentEvent) -> None: ...
        def _llm_context(self, extra_instructions: str | None = None) -> ChatContext: ...
        def _context_items(self, extra_instructions: str | None = None) -> list[ChatItem]: ...
        def _new_speech(self, source: SpeechSource, allow: bool | NotGiven, *,
                        user_initiated: bool, **fields: Any) -> Speech: ...
        def _schedule(self, speech: Speech) -> SpeechHandle: ...
        def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
        def interrupt(self) -> asyncio.Future[None]: ...
        @property
        def runtime(self) -> Any: ...
        def report_error(self, error: Exception, source: Any) -> None: ...
        def report_metrics(self, metrics: AgentMetrics) -> None: ...
        def update_agent(self, agent: Agent) -> None: ...

    def turn_context(self, transcript: str) -> ChatContext:
        """The active agent's context with ``transcript`` as the new user message (what a turn
        detector scores)."""
        ctx = self._llm_context()
        ctx.items.append(ChatMessage(role="user", content=[transcript], created_at=self.now()))
        return ctx

    def preempt(self, transcript: str) -> Speech | None:
        if self._agent is None or self._closed:
            return None
        items = self._context_items()
        items.append(ChatMessage(role="user", content=[transcript], created_at=self.now()))
        speech = self._new_speech("generate_reply", NOT_GIVEN, user_initiated=False,
                                  chat_ctx=ChatContext.model_construct(items=items),
                                  preemptive=True, scheduled=False, replaces_current=True)
        self._preempted[speech.id] = (_fingerprint(items), tuple(t.name for t in
                                                                  self.current_agent.tools))
        return speech

    async def user_turn(self, turn: UserTurn, preemptive: Speech | None, *,
                        typed: bool = False) -> Speech | None:
        """The reply to a committed user turn (``typed``: a text message, not speech)."""
        agent = self.current_agent
        committed = self.now()
        message = ChatMessage(role="user", content=[turn.transcript], created_at=committed)
        if self.attach_video:
            image = await self.capture_image()
            if image is not None:
                message.content.append(image)
        self._add_item(message)
        try:
            if type(agent).on_user_turn_completed is not Agent.on_user_turn_completed:
                # a new list sharing the agent's items (LiveKit's turn_ctx), not a deep copy
                # of the whole conversation per turn; the base hook does nothing: not called
                turn_ctx = ChatContext.model_construct(items=list(agent._chat_ctx.items))
                await agent.on_user_turn_completed(turn_ctx, message)
        except StopResponse:
            if preemptive is not None:
                preemptive.cancel()
            if not typed:
                self._eou_metrics(turn, committed, "")
            return None
        items = self._context_items()  # compared with the preemptive reply's: no context yet
        key = (_fingerprint(items), tuple(t.name for t in agent.tools))
        speech: Speech
        if preemptive is not None and self._preempted.pop(preemptive.id, None) == key \
                and preemptive.agent is agent:
            speech = preemptive
            speech.schedule()
        else:
            if preemptive is not None:
                preemptive.cancel()
            speech = self._new_speech("generate_reply", NOT_GIVEN, user_initiated=False,
                                      chat_ctx=ChatContext.model_construct(items=items),
                                      replaces_current=True, user_turn=turn)
        speech.user_turn = turn
        self._trace_turn(speech, turn)
        self._preempted.clear()
        if not typed:
            self._eou_metrics(turn, committed, speech.id)
        self._schedule(speech)
        return speech

    @staticmethod
    def _trace_turn(speech: Speech, turn: UserTurn) -> None:
        """The ``user_turn`` span: from the commit until the reply has played (or stopped);
        ended by the handle's done callback, so a turn costs no task of its own."""
        span = spans.start_user_turn(speech_id=speech.id, transcript=turn.transcript)
        if span is None:
            return
        speech.span = span

        def end(handle: SpeechHandle) -> None:
            span.set_attribute("flowagents.interrupted", handle.interrupted)
            span.end()

        speech.handle.add_done_callback(end)

    def _eou_metrics(self, turn: UserTurn, committed: float, speech_id: str) -> None:
        final = self._last_final_at if self._last_final_at is not None else turn.speech_end
        self.report_metrics(EOUMetrics(
            committed, end_of_utterance_delay=turn.committed_at - turn.speech_end,
            transcription_delay=max(0.0, final - turn.speech_end),
            on_user_turn_completed_delay=self.now() - committed, speech_id=speech_id))

    def tools_started(self) -> None:
        """A tool round began (the agent is busy, so the user-away timer is paused)."""

    def tools_executed(self, speech: Speech, step: StepResult,
                       executions: list[ToolExecution]) -> Agent | None:
        now = self.now()
        handoff: Agent | None = None
        for execution in executions:
            call = execution.call.model_copy(update={"created_at": now})
            self._add_item(call)
            speech.handle.chat_items.append(call)
            if execution.output is not None:
                output = execution.output.model_copy(update={"created_at": now})
                self._add_item(output)
                speech.handle.chat_items.append(output)
            result = execution.raw_result
            if isinstance(result, tuple) and result and isinstance(result[0], Agent):
                result = result[0]
            if isinstance(result, Agent):
                handoff = result
        self._emit(FunctionToolsExecutedEvent(
            tuple(e.call for e in executions), tuple(e.output for e in executions), now))
        if handoff is not None:
            self.update_agent(handoff)
        return handoff


    # -- user text and images ----------------------------------------------------------------
    def push_text(self, text: str) -> None:
        """A text message from the user (a chat box): interrupt the agent, then answer it as a
        user turn (``on_user_turn_completed`` runs, the message enters the history)."""
        text = text.strip()
        if self._closed or not text:
            return
        from flowagents.voice.turns import UserTurn

        self.interrupt()
        now = self.now()
        self._spawn(self._text_turn(UserTurn(text, now, now, now)))

    async def _text_turn(self, turn: UserTurn) -> None:
        try:
            speech = await self.user_turn(turn, None, typed=True)
        except Exception as exc:
            self.report_error(exc, "on_user_turn_completed")
            return
        if speech is not None and not self._closed:
            self.runtime.push("requests", speech)

    async def _read_text(self) -> None:
        source = self._io.text_input
        assert source is not None
        async for text in source:
            self.push_text(text)

    async def capture_image(self) -> ImageContent | None:
        """The newest frame of the session's video input as an image (None without one); call
        it from ``on_user_turn_completed`` to show the LLM what the camera sees."""
        video = self._io.video_input
        return None if video is None else await video.capture_image()
