"""Agent: what a voice agent is (instructions, tools, chat context) and the hooks it may override.

As in LiveKit Agents: methods decorated with ``@function_tool`` are tools; ``on_enter`` runs when
the agent becomes active (a greeting), ``on_exit`` when another agent takes over, and
``on_user_turn_completed`` after each committed user turn, before the reply (raise
:class:`StopResponse` to skip the reply; append an :class:`~flowagents.llm.ImageContent` to
``new_message.content`` to show the LLM an image). ``stt_node``, ``llm_node`` and ``tts_node``
replace one stage (their defaults call the session's providers); ``transcription_node`` rewrites
the text shown for the agent's speech. The turn options (``turn_detection``,
``min_endpointing_delay``, ``max_endpointing_delay``, ``allow_interruptions``,
``min_interruption_duration``, ``min_interruption_words``, ``false_interruption_timeout``)
override the session's while this agent is active; left ``NOT_GIVEN`` they keep the session's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGiven,
)
from flowagents.llm import (
    ChatContext,
    ChatMessage,
    FunctionTool,
    ToolChoice,
    find_function_tools,
)
from flowagents.llm.realtime import RealtimeModel
from flowagents.llm.tool_context import HandoffTarget
from flowagents.types import AudioFrame, ChatChunk, SpeechEvent, SynthesizedAudio

from .handle import SpeechHandle
from .states import AgentState, UserState

if TYPE_CHECKING:
    from flowagents.llm import LLM
    from flowagents.stt import STT
    from flowagents.tts import TTS
    from flowagents.vad import VAD

    from .turn_detector import TurnDetector

__all__ = ["Agent", "ModelSettings", "SessionAPI", "StopResponse", "TextSegment"]


class StopResponse(Exception):  # noqa: N818 (LiveKit's name)
    """Raise in ``on_user_turn_completed`` to commit the turn without replying."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    tool_choice: ToolChoice = "auto"


class TextSegment(AsyncIterable[str]):
    """One segment of the agent's speech (a sentence) as the ``text`` a ``tts_node`` gets: a
    text stream like any other, with the whole text at hand as ``text``, so the default
    ``tts_node`` voices it without collecting a stream first (one async generator less per
    sentence on the way to the first audio)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __aiter__(self) -> AsyncIterator[str]:
        return _once(self.text)


async def _once(text: str) -> AsyncIterator[str]:
    yield text


class SessionAPI(Protocol):
    """What an agent sees of the session running it (``Agent.session``). The session lives a
    layer up (``flowagents.session``), above the nodes and graphs; this protocol keeps the
    vocabulary from importing the layer that uses it."""

    vad: VAD | None
    stt: STT | None
    llm: LLM | RealtimeModel | None
    tts: TTS | None
    userdata: Any

    @property
    def history(self) -> ChatContext: ...

    @property
    def current_agent(self) -> Agent: ...

    @property
    def agent_state(self) -> AgentState: ...

    @property
    def user_state(self) -> UserState: ...

    def say(self, text: str | AsyncIterable[str], *,
            allow_interruptions: bool | NotGiven = ..., add_to_chat_ctx: bool = ...
            ) -> SpeechHandle: ...

    def generate_reply(self, *, user_input: str | NotGiven = ...,
                       instructions: str | NotGiven = ...,
                       tool_choice: ToolChoice | NotGiven = ...,
                       allow_interruptions: bool | NotGiven = ...) -> SpeechHandle: ...

    def interrupt(self) -> asyncio.Future[None]: ...

    def update_agent(self, agent: Agent) -> None: ...

    def push_text(self, text: str) -> None: ...

    def now(self) -> float: ...

    def on(self, event: str, callback: Callable[[Any], Any] | None = None) -> Any: ...

    async def aclose(self) -> None: ...


def _is_detector(value: object) -> bool:
    from .turn_detector import TurnDetector

    return isinstance(value, TurnDetector)


def _one_attempt(session: Any, kind: str) -> APIConnectOptions:
    """One attempt under the session's timeout for ``kind``'s calls: the reply path retries
    them (``nodes/reply/provider_calls.py``), so a provider must not retry inside each of its
    attempts as well."""
    conn = getattr(getattr(session, "options", None), "conn_options", None)
    options = getattr(conn, f"{kind}_conn_options", None)
    return (options if isinstance(options, APIConnectOptions)
            else DEFAULT_API_CONNECT_OPTIONS).once()


class _Activity:
    """An agent's place in a session, under LiveKit's private names (``agent._activity``)."""

    __slots__ = ("_session",)

    def __init__(self, session: SessionAPI) -> None:
        self._session = session

    @property
    def session(self) -> SessionAPI:
        return self._session


class Agent(HandoffTarget):
    """A voice agent. Subclass it for hooks and tools, or use it as is. A tool that returns an
    agent (or ``(agent, result)``) hands the conversation to it."""

    def __init__(
        self,
        *,
        instructions: str,
        chat_ctx: ChatContext | None = None,
        tools: Sequence[FunctionTool] | None = None,
        turn_detection: TurnDetector | None | NotGiven = NOT_GIVEN,
        allow_interruptions: bool | NotGiven = NOT_GIVEN,
        min_interruption_duration: float | NotGiven = NOT_GIVEN,
        min_interruption_words: int | NotGiven = NOT_GIVEN,
        min_endpointing_delay: float | NotGiven = NOT_GIVEN,
        max_endpointing_delay: float | NotGiven = NOT_GIVEN,
        false_interruption_timeout: float | None | NotGiven = NOT_GIVEN,
    ) -> None:
        self.instructions = instructions
        self._chat_ctx = chat_ctx.copy() if chat_ctx is not None else ChatContext.empty()
        self._tools = list(tools or ()) + [
            t for t in find_function_tools(self) if t.name not in {x.name for x in tools or ()}
        ]
        if not (turn_detection is None or isinstance(turn_detection, NotGiven)
                or _is_detector(turn_detection)):
            raise TypeError(
                f"Agent(turn_detection={turn_detection!r}) takes a turn detector (a "
                "flowagents.voice.TurnDetector); LiveKit's modes 'vad', 'stt', 'manual' and "
                "'realtime_llm' are set on the session: AgentSession(turn_detection=...)")
        self.turn_detection = turn_detection
        self.allow_interruptions = allow_interruptions
        self.min_interruption_duration = min_interruption_duration
        self.min_interruption_words = min_interruption_words
        self.min_endpointing_delay = min_endpointing_delay
        self.max_endpointing_delay = max_endpointing_delay
        self.false_interruption_timeout = false_interruption_timeout
        self._session: SessionAPI | None = None

    @property
    def id(self) -> str:
        return type(self).__name__.lower()

    @property
    def label(self) -> str:
        return type(self).__name__

    @property
    def session(self) -> SessionAPI:
        if self._session is None:
            raise RuntimeError("the agent is not running in a session")
        return self._session

    @property
    def _activity(self) -> _Activity:
        """What LiveKit calls the agent's activity: code written for LiveKit reaches the
        session as ``self._activity._session`` (the handoff example does, from a tool)."""
        return _Activity(self.session)

    @property
    def chat_ctx(self) -> ChatContext:
        """A copy of the agent's context (what its LLM sees besides the instructions)."""
        return self._chat_ctx.copy()

    @property
    def tools(self) -> list[FunctionTool]:
        return list(self._tools)

    async def update_instructions(self, instructions: str) -> None:
        self.instructions = instructions

    async def update_tools(self, tools: Sequence[FunctionTool]) -> None:
        self._tools = list(tools)

    async def update_chat_ctx(self, chat_ctx: ChatContext) -> None:
        self._chat_ctx = chat_ctx.copy()

    # -- hooks ---------------------------------------------------------------------------------
    async def on_enter(self) -> None:
        """The agent became active (at session start or after a handoff)."""

    async def on_exit(self) -> None:
        """Another agent is taking over."""

    async def on_user_turn_completed(self, turn_ctx: ChatContext, new_message: ChatMessage) -> None:
        """A user turn was committed; ``new_message`` may be edited before the reply."""

    # -- overridable stages --------------------------------------------------------------------
    def stt_node(self, audio: AsyncIterable[AudioFrame],
                 model_settings: ModelSettings) -> AsyncIterable[SpeechEvent | str]:
        """The STT stage: the user's (VAD-gated) audio in, speech events (or final texts) out.
        Runs from when this agent becomes active until the next handoff."""
        stt = self.session.stt
        if stt is None:
            raise RuntimeError("no STT: pass stt= to AgentSession or override stt_node")

        async def run() -> AsyncIterator[SpeechEvent]:
            stream = stt.stream()

            async def feed() -> None:
                async for frame in audio:
                    stream.push_frame(frame)
                stream.end_input()

            feeder = asyncio.get_running_loop().create_task(feed())
            try:
                async for event in stream:
                    yield event
            finally:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
                await stream.aclose()

        return run()

    def llm_node(self, chat_ctx: ChatContext, tools: Sequence[FunctionTool],
                 model_settings: ModelSettings) -> AsyncIterable[ChatChunk | str]:
        """The LLM stage: stream the reply to ``chat_ctx`` (chunks, or plain text)."""
        llm = self.session.llm
        if llm is None:
            raise RuntimeError("no LLM: pass llm= to AgentSession or override llm_node")
        if isinstance(llm, RealtimeModel):
            raise RuntimeError("a realtime model speaks for itself: it runs in the realtime "
                               "graph (AgentSession without stt= and tts=), not in llm_node")
        return llm.chat(chat_ctx=chat_ctx, tools=tools, tool_choice=model_settings.tool_choice,
                        conn_options=_one_attempt(self.session, "llm"))

    def tts_node(self, text: AsyncIterable[str],
                 model_settings: ModelSettings) -> AsyncIterable[AudioFrame | SynthesizedAudio]:
        """The TTS stage: voice one segment of text (a sentence)."""
        tts = self.session.tts
        if tts is None:
            raise RuntimeError("no TTS: pass tts= to AgentSession or override tts_node")

        once = _one_attempt(self.session, "tts")
        if isinstance(text, TextSegment):
            return tts.synthesize(text.text, conn_options=once)

        async def run() -> AsyncIterator[AudioFrame | SynthesizedAudio]:
            parts = [piece async for piece in text]
            async for chunk in tts.synthesize("".join(parts), conn_options=once):
                yield chunk

        return run()

    async def transcription_node(self, text: str, model_settings: ModelSettings) -> str:
        """The text shown (and recorded) for one segment of the agent's speech."""
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


