"""The realtime (speech to speech) model interface: one live session that hears and speaks.

A :class:`RealtimeModel` opens a :class:`RealtimeSession` per conversation. The session takes the
user's audio as it comes (``push_audio``) and reports what it hears as :class:`RealtimeInput`
events (the server's VAD: speech started / stopped; the transcript of each user turn).
``generate_reply()`` asks for a response and streams it as :class:`RealtimeOutput` pieces (audio
frames, transcript text, tool calls, the usage at the end); closing that stream cancels the
response. ``truncate(item_id, played)`` tells the model how much of a reply the user actually
heard, so its memory of the conversation matches what was played. The model's own VAD finds the
user's turns, or the graph's VAD does and ``commit_audio`` closes each one. Turn-taking stays in
the graph: the graph decides when to reply and when to stop; the session only speaks the protocol.
Tool calls come out of a response; the graph runs them and hands their outputs back with
``tool_outputs`` before asking for the next response.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from flowagents.types import AudioFrame, TokenUsage

if TYPE_CHECKING:
    from .chat_context import ChatContext, FunctionCallOutput
    from .tool_context import FunctionTool

__all__ = ["RealtimeInput", "RealtimeLink", "RealtimeModel", "RealtimeOutput",
           "RealtimeSession", "realtime_link"]


@dataclass(frozen=True, slots=True)
class RealtimeInput:
    """What the model heard: ``speech_started`` / ``speech_stopped`` at ``time`` (seconds of
    input audio), or a user turn's ``transcript``."""

    kind: Literal["speech_started", "speech_stopped", "transcript"]
    time: float = 0.0
    transcript: str = ""
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class RealtimeOutput:
    """A piece of a response: audio, transcript text, a tool call, or the usage (last)."""

    item_id: str = ""
    audio: AudioFrame | None = None
    text: str = ""
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    usage: TokenUsage | None = None


class RealtimeSession(ABC):
    """One live conversation with a realtime model (see the module docstring)."""

    @abstractmethod
    def push_audio(self, frame: AudioFrame) -> None:
        """Queue the user's audio (never blocks)."""

    @abstractmethod
    def commit_audio(self) -> None:
        """The user's turn ended (by the graph's own VAD): transcribe the audio so far."""

    @abstractmethod
    def inputs(self) -> AsyncIterator[RealtimeInput]:
        """What the model hears, as it hears it."""

    @abstractmethod
    def generate_reply(self, *, instructions: str | None = None
                       ) -> AsyncIterator[RealtimeOutput]:
        """Ask for a response now; closing the iterator cancels it."""

    @abstractmethod
    async def tool_outputs(self, outputs: Sequence[FunctionCallOutput]) -> None:
        """Give the model what its tool calls returned (before the next ``generate_reply``)."""

    @abstractmethod
    async def truncate(self, item_id: str, played: float) -> None:
        """The user heard only ``played`` seconds of the reply item ``item_id``."""

    @abstractmethod
    async def update(self, *, instructions: str, chat_ctx: ChatContext,
                     tools: Sequence[FunctionTool] = (), server_vad: bool = True) -> None:
        """Set the agent's instructions, the conversation so far and its tools; without
        ``server_vad`` the model does not detect speech (the graph's VAD commits the turns)."""

    @abstractmethod
    async def aclose(self) -> None:
        """End the session and its connection."""


class RealtimeModel(ABC):
    """A speech-to-speech model: ``AgentSession(llm=model)`` without STT and TTS uses the
    realtime graph."""

    label: str = "realtime"
    sample_rate: int = 24000

    @abstractmethod
    def session(self) -> RealtimeSession:
        """Open a conversation (connects on first use)."""


class RealtimeLink:
    """A job's realtime session and what its nodes share: the model's item id of each speech's
    audio (to truncate it where playout stopped). One per job, in the graph's resources."""

    def __init__(self, session: RealtimeSession) -> None:
        self.session = session
        self.items: dict[str, str] = {}


def realtime_link(resources: Mapping[str, Any]) -> RealtimeLink:
    """The job's :class:`RealtimeLink`, opened on first use from the ``llm`` resource (a
    :class:`RealtimeModel`). ``resources`` is the job's own dict (shared by its nodes)."""
    link = resources.get("realtime_link")
    if link is None:
        model = resources.get("llm")
        if not isinstance(model, RealtimeModel):
            raise TypeError("the realtime graph needs llm= to be a RealtimeModel, got "
                            f"{type(model).__name__}")
        link = RealtimeLink(model.session())
        cast("dict[str, Any]", resources)["realtime_link"] = link
    assert isinstance(link, RealtimeLink)
    return link
