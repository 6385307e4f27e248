"""The conversation an LLM sees: messages, tool calls and their outputs, and agent handoffs.

A :class:`ChatContext` is an ordered list of items (pydantic models, so the history can be
validated, copied and serialized to JSON for logs, IPC and tests). Items are kept in ``created_at``
order because the session records them from several places (a tool output can be recorded after a
later user message was transcribed). ``to_provider_format("openai")`` turns the context into
OpenAI chat-completions messages, the format the OpenAI-compatible and llama.cpp providers send.
Names and semantics follow LiveKit Agents' ``ChatContext``.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Protocol, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator


class NamedTool(Protocol):
    """A tool as ``ChatContext.copy(tools=...)`` sees it: its name (a FunctionTool is one)."""

    @property
    def name(self) -> str: ...

__all__ = [
    "AgentHandoff",
    "ChatContent",
    "ChatContext",
    "ChatItem",
    "ChatMessage",
    "ChatRole",
    "FunctionCall",
    "FunctionCallOutput",
    "ImageContent",
]

ChatRole: TypeAlias = Literal["developer", "system", "user", "assistant"]
_INSTRUCTION_ROLES = ("developer", "system")


def _new_id(prefix: str) -> str:
    """48 random bits: what the first 12 hex digits of a uuid4 held, without building a UUID."""
    return f"{prefix}{os.urandom(6).hex()}"


class ImageContent(BaseModel):
    """An image in a message: an ``https://`` URL or a ``data:`` URL holding the bytes."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["image_content"] = "image_content"
    id: str = Field(default_factory=lambda: _new_id("img_"))
    image: str
    mime_type: str | None = None
    detail: Literal["auto", "high", "low"] = "auto"

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str = "image/jpeg", **kwargs: Any) -> ImageContent:
        """An image from encoded bytes (JPEG, PNG, ...), carried as a data URL."""
        url = f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"
        return cls(image=url, mime_type=mime_type, **kwargs)


ChatContent: TypeAlias = str | ImageContent


class ChatMessage(BaseModel):
    """A message from the user, the assistant, or the instructions (system/developer).

    ``interrupted`` marks an assistant reply cut short by the user; its text is what was played.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["message"] = "message"
    id: str = Field(default_factory=lambda: _new_id("item_"))
    role: ChatRole
    content: list[ChatContent] = Field(default_factory=list)
    interrupted: bool = False
    created_at: float = Field(default_factory=time.time)
    transcript_confidence: float | None = None
    """A user message from speech: the STT's confidence in its transcript (0..1; None when
    not reported), so a turn detector can doubt a transcript that may be misheard."""

    @field_validator("content", mode="before")
    @classmethod
    def _wrap_single(cls, value: Any) -> Any:
        if isinstance(value, str | ImageContent):
            return [value]
        return value

    @property
    def text_content(self) -> str | None:
        """The text parts joined by newlines, or None when the message holds no text."""
        parts = [c for c in self.content if isinstance(c, str)]
        return "\n".join(parts) if parts else None


class FunctionCall(BaseModel):
    """The model asked to call a tool; ``arguments`` is the JSON text the model produced."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function_call"] = "function_call"
    id: str = Field(default_factory=lambda: _new_id("item_"))
    call_id: str
    name: str
    arguments: str = "{}"
    created_at: float = Field(default_factory=time.time)


class FunctionCallOutput(BaseModel):
    """What a tool returned (or the error the model should see), matched by ``call_id``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function_call_output"] = "function_call_output"
    id: str = Field(default_factory=lambda: _new_id("item_"))
    call_id: str
    name: str = ""
    output: str
    is_error: bool = False
    created_at: float = Field(default_factory=time.time)


class AgentHandoff(BaseModel):
    """The session passed the conversation from one agent to another."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["agent_handoff"] = "agent_handoff"
    id: str = Field(default_factory=lambda: _new_id("item_"))
    old_agent_id: str | None = None
    new_agent_id: str
    created_at: float = Field(default_factory=time.time)


ChatItem = Annotated[
    ChatMessage | FunctionCall | FunctionCallOutput | AgentHandoff, Field(discriminator="type")
]
_ITEMS_ADAPTER: TypeAdapter[list[ChatItem]] = TypeAdapter(list[ChatItem])


def _is_instructions(item: ChatItem) -> bool:
    return item.type == "message" and item.role in _INSTRUCTION_ROLES


class ChatContext(BaseModel):
    """An ordered conversation history. Mutating methods change it in place; ``copy`` does not."""

    model_config = ConfigDict(extra="forbid")

    items: list[ChatItem] = Field(default_factory=list)

    def __init__(self, items: Iterable[ChatItem] | None = None, **data: Any) -> None:
        if items is not None:
            data["items"] = list(items)
        super().__init__(**data)

    @classmethod
    def empty(cls) -> ChatContext:
        return cls()

    def add_message(
        self,
        *,
        role: ChatRole,
        content: str | ImageContent | Sequence[ChatContent],
        interrupted: bool = False,
        created_at: float | None = None,
        id: str | None = None,
    ) -> ChatMessage:
        """Append a message (inserted by ``created_at`` when that is earlier than the last item)."""
        parts = [content] if isinstance(content, str | ImageContent) else list(content)
        fields: dict[str, Any] = {"role": role, "content": parts, "interrupted": interrupted}
        if created_at is not None:
            fields["created_at"] = created_at
        if id is not None:
            fields["id"] = id
        message = ChatMessage(**fields)
        self.insert(message)
        return message

    def insert(self, item: ChatItem | Iterable[ChatItem]) -> None:
        """Insert items keeping ``created_at`` order; equal times keep insertion order."""
        new = [item] if isinstance(item, BaseModel) else list(item)
        items = self.items
        for it in new:
            if not items or items[-1].created_at <= it.created_at:
                items.append(it)  # the usual case, in O(1): the newest item
            else:
                items.insert(bisect.bisect_right(items, it.created_at, key=_created_at), it)

    def get_by_id(self, item_id: str) -> ChatItem | None:
        return next((item for item in self.items if item.id == item_id), None)

    def index_by_id(self, item_id: str) -> int | None:
        return next((i for i, item in enumerate(self.items) if item.id == item_id), None)

    def copy(  # type: ignore[override]  # BaseModel.copy is deprecated; this is LiveKit's API
        self,
        *,
        exclude_function_call: bool = False,
        exclude_instructions: bool = False,
        exclude_empty_message: bool = False,
        tools: Sequence[NamedTool | str] | None = None,
    ) -> ChatContext:
        """A deep copy, optionally without tool items, instructions, or empty messages.

        With ``tools``, calls and outputs of tools not in that list are dropped (a model given a
        history that calls tools it no longer has may try to call them again).
        """
        names = None if tools is None else {t if isinstance(t, str) else t.name for t in tools}
        kept: list[ChatItem] = []
        for item in self.items:
            if item.type in ("function_call", "function_call_output"):
                if exclude_function_call or (names is not None and item.name not in names):
                    continue
            elif item.type == "message":
                if exclude_instructions and item.role in _INSTRUCTION_ROLES:
                    continue
                if exclude_empty_message and not item.content:
                    continue
            kept.append(_copy_item(item))
        return ChatContext.model_construct(items=kept)  # the items are valid already

    def truncate(self, *, max_items: int) -> ChatContext:
        """Keep the last ``max_items`` items (in place; returns self).

        The leading instructions message is kept (and counts towards ``max_items``), and the kept
        tail never starts with a tool output whose call was cut off: providers reject it.
        """
        if max_items < 0:
            raise ValueError("max_items must be >= 0")
        if len(self.items) <= max_items:
            return self
        instructions = self.items[0] if self.items and _is_instructions(self.items[0]) else None
        budget = max_items - (1 if instructions is not None else 0)
        rest = self.items[1:] if instructions is not None else self.items
        tail = rest[len(rest) - budget:] if budget > 0 else []
        call_ids = {i.call_id for i in tail if i.type == "function_call"}
        while tail and tail[0].type == "function_call_output" and tail[0].call_id not in call_ids:
            tail.pop(0)
        head = [instructions] if instructions is not None and max_items > 0 else []
        self.items[:] = head + tail
        return self

    def to_dict(self, *, exclude_image: bool = False, exclude_timestamp: bool = False
                ) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` reads it back."""
        items: list[dict[str, Any]] = []
        for item in self.items:
            d = item.model_dump(mode="json", exclude={"created_at"} if exclude_timestamp else None)
            if exclude_image and item.type == "message":
                d["content"] = [c for c in d["content"] if isinstance(c, str)]
            items.append(d)
        return {"items": items}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatContext:
        return cls(_ITEMS_ADAPTER.validate_python(data.get("items", [])))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ChatContext:
        return cls.from_dict(json.loads(text))

    def to_provider_format(self, format: Literal["openai"] = "openai") -> list[dict[str, Any]]:
        """The context as messages of a provider's API. Only ``"openai"`` (chat completions).

        Developer messages become ``system`` (OpenAI-compatible servers such as llama.cpp and
        Ollama do not all know ``developer``); consecutive tool calls join the preceding assistant
        message as ``tool_calls``; outputs become ``tool`` messages; handoffs are not sent.
        """
        if format != "openai":
            raise ValueError(f"unknown provider format {format!r}")
        out: list[dict[str, Any]] = []
        for item in self.items:
            if item.type == "message":
                out.append(_openai_message(item))
            elif item.type == "function_call":
                call = {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
                last = out[-1] if out else None
                if last is not None and last["role"] == "assistant" and (
                    "tool_calls" in last or isinstance(last.get("content"), str | None)
                ):
                    last.setdefault("tool_calls", []).append(call)
                else:
                    out.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif item.type == "function_call_output":
                out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
        return out


def _created_at(item: ChatItem) -> float:
    return item.created_at


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_item(item: ChatItem) -> ChatItem:
    """A deep copy of one item, several times cheaper than pydantic's generic ``deep=True``
    (which deep-copies every string and revalidates nothing anyway): immutable field values are
    shared, lists (a message's content) are copied, and anything else is deep-copied."""
    new = copy.copy(item)
    fields = new.__dict__
    for name, value in fields.items():
        if isinstance(value, _IMMUTABLE):
            continue
        if type(value) is list:
            fields[name] = [v if isinstance(v, _IMMUTABLE) else copy.deepcopy(v) for v in value]
        else:
            fields[name] = copy.deepcopy(value)
    return new


def _openai_message(msg: ChatMessage) -> dict[str, Any]:
    role = "system" if msg.role == "developer" else msg.role
    if all(isinstance(c, str) for c in msg.content):
        return {"role": role, "content": msg.text_content or ""}
    parts: list[dict[str, Any]] = []
    for c in msg.content:
        if isinstance(c, str):
            parts.append({"type": "text", "text": c})
        else:
            parts.append({"type": "image_url", "image_url": {"url": c.image, "detail": c.detail}})
    return {"role": role, "content": parts}
