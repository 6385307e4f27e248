"""Session events: what an :class:`~flowagents.voice.AgentSession` tells its listeners.

Names and fields follow LiveKit Agents (``agent_state_changed``, ``user_input_transcribed``, ...).
Each event is a frozen dataclass with a ``type`` (the name passed to ``session.on``) and
``created_at`` on the session clock (virtual in tests).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from flowagents.llm import ChatItem, FunctionCall, FunctionCallOutput
from flowagents.metrics import AgentMetrics

from .states import AgentState, SpeechSource, UserState

if TYPE_CHECKING:
    from .handle import SpeechHandle

__all__ = [
    "AgentEvent",
    "AgentFalseInterruptionEvent",
    "AgentState",
    "AgentStateChangedEvent",
    "CloseEvent",
    "CloseReason",
    "ConversationItemAddedEvent",
    "ErrorEvent",
    "FunctionToolsExecutedEvent",
    "MetricsCollectedEvent",
    "SpeechCreatedEvent",
    "SpeechSource",
    "UserInputTranscribedEvent",
    "UserState",
    "UserStateChangedEvent",
]



class CloseReason(enum.StrEnum):
    ERROR = "error"
    JOB_SHUTDOWN = "job_shutdown"
    PARTICIPANT_DISCONNECTED = "participant_disconnected"
    USER_INITIATED = "user_initiated"


@dataclass(frozen=True, slots=True)
class AgentStateChangedEvent:
    type: ClassVar[str] = "agent_state_changed"
    old_state: AgentState
    new_state: AgentState
    created_at: float


@dataclass(frozen=True, slots=True)
class UserStateChangedEvent:
    """``created_at`` is dated back to the VAD's start or end of speech."""

    type: ClassVar[str] = "user_state_changed"
    old_state: UserState
    new_state: UserState
    created_at: float


@dataclass(frozen=True, slots=True)
class UserInputTranscribedEvent:
    type: ClassVar[str] = "user_input_transcribed"
    transcript: str
    is_final: bool
    created_at: float
    language: str = ""


@dataclass(frozen=True, slots=True)
class ConversationItemAddedEvent:
    type: ClassVar[str] = "conversation_item_added"
    item: ChatItem
    created_at: float


@dataclass(frozen=True, slots=True)
class FunctionToolsExecutedEvent:
    type: ClassVar[str] = "function_tools_executed"
    function_calls: tuple[FunctionCall, ...]
    function_call_outputs: tuple[FunctionCallOutput | None, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class AgentFalseInterruptionEvent:
    type: ClassVar[str] = "agent_false_interruption"
    resumed: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class MetricsCollectedEvent:
    type: ClassVar[str] = "metrics_collected"
    metrics: AgentMetrics
    created_at: float


@dataclass(frozen=True, slots=True)
class SpeechCreatedEvent:
    type: ClassVar[str] = "speech_created"
    user_initiated: bool
    source: SpeechSource
    speech_handle: SpeechHandle
    created_at: float


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    type: ClassVar[str] = "error"
    error: BaseException
    source: Any
    created_at: float


@dataclass(frozen=True, slots=True)
class CloseEvent:
    type: ClassVar[str] = "close"
    reason: CloseReason
    created_at: float
    error: BaseException | None = field(default=None)


AgentEvent = (
    AgentStateChangedEvent | UserStateChangedEvent | UserInputTranscribedEvent
    | ConversationItemAddedEvent | FunctionToolsExecutedEvent | AgentFalseInterruptionEvent
    | MetricsCollectedEvent | SpeechCreatedEvent | ErrorEvent | CloseEvent
)
