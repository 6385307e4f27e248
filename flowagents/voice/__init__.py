"""Voice agents: ``AgentSession`` and ``Agent`` over the voice graph, with LiveKit Agents' API."""

from .agent import Agent, ModelSettings, StopResponse
from .events import (
    AgentEvent,
    AgentFalseInterruptionEvent,
    AgentState,
    AgentStateChangedEvent,
    CloseEvent,
    CloseReason,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    MetricsCollectedEvent,
    SpeechCreatedEvent,
    UserInputTranscribedEvent,
    UserState,
    UserStateChangedEvent,
)
from .io import AudioInput, AudioOutput, SessionIO, TextOutput, TranscriptionSegment
from .options import SessionOptions
from .session import AgentSession
from .speech import SpeechHandle

__all__ = [
    "Agent", "AgentEvent", "AgentFalseInterruptionEvent", "AgentSession", "AgentState",
    "AgentStateChangedEvent", "AudioInput", "AudioOutput", "CloseEvent", "CloseReason",
    "ConversationItemAddedEvent", "ErrorEvent", "FunctionToolsExecutedEvent",
    "MetricsCollectedEvent", "ModelSettings", "SessionIO", "SessionOptions", "SpeechCreatedEvent",
    "SpeechHandle", "StopResponse", "TextOutput", "TranscriptionSegment",
    "UserInputTranscribedEvent", "UserState", "UserStateChangedEvent",
]
