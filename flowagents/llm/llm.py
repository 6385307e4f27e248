"""The LLM interface: a streaming chat completion over a ChatContext, with tool calls and usage.

``chat()`` returns an async iterator of :class:`ChatChunk`: text deltas, tool-call pieces (joined
by index), and token usage on the last chunk. Closing the iterator (or cancelling the task that
iterates it) abandons the request: an HTTP stream is closed, a local model stops at the next token.
The framework owns retries, metrics and the tool loop; a provider owns only its protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.types import ChatChunk

if TYPE_CHECKING:
    from .chat_context import ChatContext
    from .tool_context import FunctionTool

__all__ = ["LLM", "ToolChoice"]

ToolChoice = Literal["auto", "required", "none"] | dict[str, Any]
"""``"auto"``, ``"required"``, ``"none"``, or ``{"type": "function", "function": {"name": N}}``."""


class LLM(ABC):
    """A chat model."""

    label: str = "llm"
    model: str = ""

    @abstractmethod
    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: Sequence[FunctionTool] = (),
        tool_choice: ToolChoice = "auto",
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[ChatChunk]:
        """Stream the model's reply to ``chat_ctx``."""

    def prewarm(self, *, chat_ctx: ChatContext,  # noqa: B027 (optional: a no-op by default)
                tools: Sequence[FunctionTool] = ()) -> None:
        """A hint, given when the user starts speaking: a reply to ``chat_ctx`` and a new user
        message is likely soon. A local model reads the conversation now rather than after the
        user's last word; returns at once (the work goes to the provider's own executor)."""

    async def aclose(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Release shared resources (HTTP sessions, loaded models)."""
