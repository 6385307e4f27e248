"""The voice vocabulary: ``Agent``, speeches, signals, turn options, events and session I/O.

The nodes and graphs speak it; ``flowagents.session.AgentSession`` (one layer up) runs them.
"""

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
from .options import SessionConnectOptions, SessionOptions, TurnOptions
from .speech import SpeechHandle
from .turn_detector import TurnDetector

__all__ = [
    "Agent", "AgentEvent", "AgentFalseInterruptionEvent", "AgentState",
    "AgentStateChangedEvent", "AudioInput", "AudioOutput", "CloseEvent", "CloseReason",
    "ConversationItemAddedEvent", "ErrorEvent", "FunctionToolsExecutedEvent",
    "MetricsCollectedEvent", "ModelSettings", "SessionConnectOptions", "SessionIO",
    "SessionOptions", "SpeechCreatedEvent", "SpeechHandle", "StopResponse", "TextInput",
    "TextOutput", "TextSegment",
    "TranscriptionSegment", "TurnDetector", "TurnOptions", "UserInputTranscribedEvent", "UserState",
    "UserStateChangedEvent", "VideoInput",
]
