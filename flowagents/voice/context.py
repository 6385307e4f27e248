"""The chat context of a reply: the agent's instructions, then its items, then the new message.

Built in one place for the nodes that need it (the turn reply, the turn detector) and for the
session's ``generate_reply``. The instructions become one system message per distinct text,
reused from context to context, so that a context can be compared with an earlier one by the
identity of its items (:func:`fingerprint`): that is how a preemptive reply knows whether the
committed turn still asks the same question, at the cost of a pointer comparison per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flowagents.llm import ChatContext, ChatItem, ChatMessage, ImageContent

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["ContextBuilder", "fingerprint"]


class ContextBuilder:
    """Builds reply contexts for whichever agent is active (see the module docstring)."""

    __slots__ = ("_instructions",)

    def __init__(self) -> None:
        self._instructions: ChatMessage | None = None

    def instructions(self, text: str) -> ChatMessage:
        """The system message of ``text``: one per distinct instructions, not one per turn."""
        item = self._instructions
        if item is None or item.content[0] != text:
            item = self._instructions = ChatMessage(role="system", content=[text],
                                                    created_at=-1.0)
        return item

    def items(self, agent: Agent, extra_instructions: str | None = None,
              now: float = 0.0) -> list[ChatItem]:
        """The instructions, the agent's items (its own system messages left out), and
        ``extra_instructions`` (a ``generate_reply(instructions=)``) last."""
        items: list[ChatItem] = [self.instructions(agent.instructions)]
        items += [i for i in agent._chat_ctx.items
                  if not (i.type == "message" and i.role == "system")]
        if extra_instructions:
            items.append(ChatMessage(role="system", content=[extra_instructions],
                                     created_at=now))
        return items

    def context(self, agent: Agent, extra_instructions: str | None = None,
                now: float = 0.0) -> ChatContext:
        return ChatContext.model_construct(items=self.items(agent, extra_instructions, now))

    def with_user_message(self, agent: Agent, transcript: str, now: float,
                          confidence: float | None = None) -> ChatContext:
        """The agent's context with ``transcript`` as the new user message (what a turn
        detector scores, what a preemptive reply answers); ``confidence``: the STT's."""
        items = self.items(agent)
        items.append(ChatMessage(role="user", content=[transcript], created_at=now,
                                 transcript_confidence=confidence))
        return ChatContext.model_construct(items=items)


def _content(item: ChatItem) -> tuple[Any, ...]:
    if item.type == "message":
        images = tuple(c.id for c in item.content if isinstance(c, ImageContent))
        return ("message", item.role, item.text_content, images)
    if item.type == "function_call":
        return ("call", item.name, item.arguments)
    if item.type == "function_call_output":
        return ("output", item.name, item.output)
    return (item.type,)


def fingerprint(items: Sequence[ChatItem], agent: Agent) -> tuple[Any, ...]:
    """What a reply depends on: the newest item (the user's message) by content, every item
    before it by identity, and the agent's tools by name. Contexts built by a
    :class:`ContextBuilder` share the history's items and one instructions message per distinct
    instructions, so this costs a pointer comparison per item (a context replaced by a copy, or
    changed instructions, count as changed)."""
    tools = tuple(t.name for t in agent.tools)
    if not items:
        return ((), tools)
    return (tuple(items[:-1]), _content(items[-1]), tools)
