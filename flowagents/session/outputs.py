"""What the voice graph tells the session, kept as the session's state and announced as events.

The graph decides; :class:`GraphOutputs` only records and announces: the agent in charge, the
agent's and the user's states (``agent_state_changed``, ``user_state_changed``), the history
(``conversation_item_added``), the speeches created (``speech_created``) and in flight, tool
rounds (``function_tools_executed``), false interruptions, transcripts (``user_input_transcribed``
and the text output), metrics and errors, and the audio output's ``clear`` when playout drops
audio. One handler per graph output (:data:`graphs.voice.OUTPUTS`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reactivex.disposable import CompositeDisposable

from flowagents.graph import NodeError
from flowagents.llm import ChatContext, ChatItem, ChatMessage
from flowagents.metrics import AgentMetrics, UsageCollector
from flowagents.runtime import GraphRuntime
from flowagents.types import SpeechEvent, SpeechEventType
from flowagents.voice.events import (
    AgentEvent,
    AgentFalseInterruptionEvent,
    AgentState,
    AgentStateChangedEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    MetricsCollectedEvent,
    SpeechCreatedEvent,
    UserInputTranscribedEvent,
    UserState,
    UserStateChangedEvent,
)
from flowagents.voice.io import SessionIO, TranscriptionSegment
from flowagents.voice.signals import (
    ActiveAgent,
    AgentActivity,
    FalseInterruptionExpired,
    PlaybackEvent,
    ToolRound,
    UserStateChange,
)
from flowagents.voice.speech import Speech, SpeechHandle

__all__ = ["GraphOutputs"]

logger = logging.getLogger("flowagents.voice")


class GraphOutputs:
    """The session's view of its graph (see the module docstring)."""

    def __init__(self, emit: Callable[[AgentEvent], None], now: Callable[[], float]) -> None:
        self.emit, self.now = emit, now
        self.history = ChatContext.empty()
        self.active: ActiveAgent | None = None
        self.agent_state: AgentState = "initializing"
        self.user_state: UserState = "listening"
        self.speeches: list[SpeechHandle] = []
        self.usage = UsageCollector()
        self.io = SessionIO()

    def connect(self, runtime: GraphRuntime, io: SessionIO) -> CompositeDisposable:
        self.io = io
        subs = CompositeDisposable()
        if io.audio_output is not None:
            subs.add(runtime.output("audio_out").subscribe(io.audio_output.capture))
        handlers: dict[str, Callable[[Any], None]] = {
            "agent": self.on_agent, "agent_activity": self.on_activity,
            "false_interruptions": self.on_false_interruption, "history": self.on_item,
            "playback": self.on_playback, "replies": self.register, "tool_rounds": self.on_tools,
            "transcription": self.on_transcription, "user_states": self.on_user_state,
            "user_transcripts": self.on_user_transcript}
        for name, handler in handlers.items():
            subs.add(runtime.output(name).subscribe(handler))
        subs.add(runtime.errors.subscribe(lambda e: self.report_error(e, e.node)))
        return subs

    def report_metrics(self, metrics: AgentMetrics) -> None:
        self.usage(metrics)
        self.emit(MetricsCollectedEvent(metrics, self.now()))

    def report_error(self, error: Exception, source: Any) -> None:
        cause = error.cause if isinstance(error, NodeError) and error.cause else error
        logger.error("session error", extra={"source": str(source)})
        self.emit(ErrorEvent(cause, source, self.now()))

    def register(self, speech: Speech) -> None:
        """A speech was created (a request of the session's, or a turn's reply)."""
        handle = speech.handle
        self.speeches.append(handle)
        handle.add_done_callback(self.speeches.remove)
        self.emit(SpeechCreatedEvent(handle.user_initiated, handle.source, handle, self.now()))

    def on_agent(self, active: ActiveAgent) -> None:
        self.active = active

    def on_item(self, item: ChatItem) -> None:
        self.history.insert(item)
        if isinstance(item, ChatMessage):
            self.emit(ConversationItemAddedEvent(item, self.now()))

    def on_tools(self, done: ToolRound) -> None:
        self.emit(FunctionToolsExecutedEvent(tuple(e.call for e in done.executions),
                                             tuple(e.output for e in done.executions),
                                             done.time))

    def on_activity(self, activity: AgentActivity) -> None:
        if activity.state != self.agent_state:
            old, self.agent_state = self.agent_state, activity.state
            self.emit(AgentStateChangedEvent(old, activity.state, activity.time))

    def on_false_interruption(self, expired: FalseInterruptionExpired) -> None:
        self.emit(AgentFalseInterruptionEvent(False, expired.time))

    def on_user_state(self, change: UserStateChange) -> None:
        if change.state != self.user_state:
            old, self.user_state = self.user_state, change.state
            self.emit(UserStateChangedEvent(old, change.state, change.time))

    def on_user_transcript(self, event: SpeechEvent) -> None:
        if event.type not in (SpeechEventType.INTERIM_TRANSCRIPT,
                              SpeechEventType.FINAL_TRANSCRIPT) or not event.text:
            return
        final = event.type is SpeechEventType.FINAL_TRANSCRIPT
        language = event.alternatives[0].language if event.alternatives else ""
        self.emit(UserInputTranscribedEvent(event.text, final, self.now(), language))
        self.on_transcription(TranscriptionSegment(event.request_id or "user", event.text,
                                                   "user", final, self.now()))

    def on_transcription(self, segment: TranscriptionSegment) -> None:
        if self.io.text_output is not None:
            self.io.text_output.capture(segment)

    def on_playback(self, event: PlaybackEvent) -> None:
        if event.kind == "cleared" and self.io.audio_output is not None:
            self.io.audio_output.clear()
        elif event.kind == "resumed":
            self.emit(AgentFalseInterruptionEvent(True, event.time))
