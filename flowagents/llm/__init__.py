"""Large language models: the LLM interface, the chat context, function tools and adapters."""

from .chat_context import (
    AgentHandoff,
    ChatContent,
    ChatContext,
    ChatItem,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    ImageContent,
)
from .fallback import FallbackAdapter
from .llm import LLM, ToolChoice
from .tool_context import (
    FunctionTool,
    RawFunctionTool,
    RunContext,
    ToolError,
    ToolExecution,
    execute_function_call,
    find_function_tools,
    function_tool,
)

__all__ = [
    "LLM",
    "AgentHandoff",
    "ChatContent",
    "ChatContext",
    "ChatItem",
    "ChatMessage",
    "ChatRole",
    "FallbackAdapter",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionTool",
    "ImageContent",
    "RawFunctionTool",
    "RunContext",
    "ToolChoice",
    "ToolError",
    "ToolExecution",
    "execute_function_call",
    "find_function_tools",
    "function_tool",
]
