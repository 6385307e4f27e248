"""The LiveKit-compatible namespace: ``from flowagents import agents`` reads as ``livekit.agents``.

LiveKit Agents code ports by changing its imports (``docs/coming-from-livekit.md`` has the full
mapping). Every name is a lazy attribute: ``import flowagents.agents`` loads nothing but this
table, and ``agents.AgentSession`` imports the session (and the graph under it) on first use, so
a worker's command line or a test collection that never touches a name does not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowagents import cli as cli
    from flowagents import llm as llm
    from flowagents import metrics as metrics
    from flowagents import stt as stt
    from flowagents import tokenize as tokenize
    from flowagents import tts as tts
    from flowagents import vad as vad
    from flowagents.errors import NOT_GIVEN as NOT_GIVEN
    from flowagents.errors import APIConnectionError as APIConnectionError
    from flowagents.errors import APIConnectOptions as APIConnectOptions
    from flowagents.errors import APIError as APIError
    from flowagents.errors import APIStatusError as APIStatusError
    from flowagents.errors import APITimeoutError as APITimeoutError
    from flowagents.errors import NotGiven as NotGiven
    from flowagents.job.auto_subscribe import AutoSubscribe as AutoSubscribe
    from flowagents.job.context import JobContext as JobContext
    from flowagents.job.context import (  # noqa: F401 (LiveKit has both names)
        get_job_context as get_current_job_context,
    )
    from flowagents.job.context import get_job_context as get_job_context
    from flowagents.job.process import JobProcess as JobProcess
    from flowagents.job.request import JobRequest as JobRequest
    from flowagents.job.room_options import RoomInputOptions as RoomInputOptions
    from flowagents.job.room_options import RoomOutputOptions as RoomOutputOptions
    from flowagents.llm import ChatContext as ChatContext
    from flowagents.llm import ChatMessage as ChatMessage
    from flowagents.llm import FunctionTool as FunctionTool
    from flowagents.llm import RunContext as RunContext
    from flowagents.llm import ToolError as ToolError
    from flowagents.llm import function_tool as function_tool
    from flowagents.session import AgentSession as AgentSession
    from flowagents.voice import Agent as Agent
    from flowagents.voice import AgentStateChangedEvent as AgentStateChangedEvent
    from flowagents.voice import CloseEvent as CloseEvent
    from flowagents.voice import ConversationItemAddedEvent as ConversationItemAddedEvent
    from flowagents.voice import ErrorEvent as ErrorEvent
    from flowagents.voice import FunctionToolsExecutedEvent as FunctionToolsExecutedEvent
    from flowagents.voice import MetricsCollectedEvent as MetricsCollectedEvent
    from flowagents.voice import ModelSettings as ModelSettings
    from flowagents.voice import SpeechHandle as SpeechHandle
    from flowagents.voice import StopResponse as StopResponse
    from flowagents.voice import UserInputTranscribedEvent as UserInputTranscribedEvent
    from flowagents.voice import UserStateChangedEvent as UserStateChangedEvent
    from flowagents.voice.options import SessionConnectOptions as SessionConnectOptions
    from flowagents.worker.options import WorkerOptions as WorkerOptions
    from flowagents.worker.options import WorkerPermissions as WorkerPermissions
    from flowagents.worker.options import WorkerType as WorkerType

#: name -> (module, attribute); attribute ``None``: the name is the module itself.
_NAMES: dict[str, tuple[str, str | None]] = {
    # the session and the agent
    "Agent": ("flowagents.voice.agent", "Agent"),
    "AgentSession": ("flowagents.session", "AgentSession"),
    "ModelSettings": ("flowagents.voice.agent", "ModelSettings"),
    "StopResponse": ("flowagents.voice.agent", "StopResponse"),
    "SpeechHandle": ("flowagents.voice.handle", "SpeechHandle"),
    "RoomInputOptions": ("flowagents.job.room_options", "RoomInputOptions"),
    "RoomOutputOptions": ("flowagents.job.room_options", "RoomOutputOptions"),
    # tools
    "function_tool": ("flowagents.llm.tool_context", "function_tool"),
    "FunctionTool": ("flowagents.llm.tool_context", "FunctionTool"),
    "RunContext": ("flowagents.llm.tool_context", "RunContext"),
    "ToolError": ("flowagents.llm.tool_context", "ToolError"),
    "ChatContext": ("flowagents.llm.chat_context", "ChatContext"),
    "ChatMessage": ("flowagents.llm.chat_context", "ChatMessage"),
    # jobs and the worker
    "JobContext": ("flowagents.job.context", "JobContext"),
    "AutoSubscribe": ("flowagents.job.auto_subscribe", "AutoSubscribe"),
    "JobProcess": ("flowagents.job.process", "JobProcess"),
    "JobRequest": ("flowagents.job.request", "JobRequest"),
    "get_job_context": ("flowagents.job.context", "get_job_context"),
    "get_current_job_context": ("flowagents.job.context", "get_job_context"),
    "WorkerOptions": ("flowagents.worker.options", "WorkerOptions"),
    "WorkerPermissions": ("flowagents.worker.options", "WorkerPermissions"),
    "WorkerType": ("flowagents.worker.options", "WorkerType"),
    "cli": ("flowagents.cli", None),  # agents.cli.run_app(options), as in LiveKit
    # events
    "AgentStateChangedEvent": ("flowagents.voice.events", "AgentStateChangedEvent"),
    "UserStateChangedEvent": ("flowagents.voice.events", "UserStateChangedEvent"),
    "UserInputTranscribedEvent": ("flowagents.voice.events", "UserInputTranscribedEvent"),
    "ConversationItemAddedEvent": ("flowagents.voice.events", "ConversationItemAddedEvent"),
    "FunctionToolsExecutedEvent": ("flowagents.voice.events", "FunctionToolsExecutedEvent"),
    "MetricsCollectedEvent": ("flowagents.voice.events", "MetricsCollectedEvent"),
    "ErrorEvent": ("flowagents.voice.events", "ErrorEvent"),
    "CloseEvent": ("flowagents.voice.events", "CloseEvent"),
    # provider errors and options
    "APIError": ("flowagents.errors", "APIError"),
    "APIStatusError": ("flowagents.errors", "APIStatusError"),
    "APIConnectionError": ("flowagents.errors", "APIConnectionError"),
    "APITimeoutError": ("flowagents.errors", "APITimeoutError"),
    "APIConnectOptions": ("flowagents.errors", "APIConnectOptions"),
    "SessionConnectOptions": ("flowagents.voice.options", "SessionConnectOptions"),
    "NOT_GIVEN": ("flowagents.errors", "NOT_GIVEN"),
    "NotGiven": ("flowagents.errors", "NotGiven"),
    # the provider interfaces, as modules
    "llm": ("flowagents.llm", None),
    "stt": ("flowagents.stt", None),
    "tts": ("flowagents.tts", None),
    "vad": ("flowagents.vad", None),
    "metrics": ("flowagents.metrics", None),
    "tokenize": ("flowagents.tokenize", None),
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    """Import ``name`` on first use and keep it (later reads are plain attribute reads)."""
    try:
        module_name, attr = _NAMES[name]
    except KeyError:
        raise AttributeError(f"module 'flowagents.agents' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})
