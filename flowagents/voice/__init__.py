"""Voice agents: ``AgentSession`` and ``Agent`` over the voice graph, with LiveKit Agents' API."""

from .agent import Agent, ModelSettings, StopResponse, TextSegment
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
from .io import (
    AudioInput,
    AudioOutput,
    SessionIO,
    TextInput,
    TextOutput,
    TranscriptionSegment,
    VideoInput,
)
from .options import SessionOptions, TurnOptions
from .session import AgentSession
from .speech import SpeechHandle
from .turn_detector import TurnDetector

__all__ = [
    "Agent", "AgentEvent", "AgentFalseInterruptionEvent", "AgentSession", "AgentState",
    "AgentStateChangedEvent", "AudioInput", "AudioOutput", "CloseEvent", "CloseReason",
    "ConversationItemAddedEvent", "ErrorEvent", "FunctionToolsExecutedEvent",
    "MetricsCollectedEvent", "ModelSettings", "SessionIO", "SessionOptions", "SpeechCreatedEvent",
    "SpeechHandle", "StopResponse", "TextInput", "TextOutput", "TextSegment",
    "TranscriptionSegment", "TurnDetector", "TurnOptions", "UserInputTranscribedEvent", "UserState",
    "UserStateChangedEvent", "VideoInput",
]
