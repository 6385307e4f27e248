"""Signals between the voice graph's nodes and the session: the active agent and its turn
options, agent activity, playout control, playback events, false interruptions, provider
requests. Small frozen dataclasses (they flow once per state change or request, not per
frame)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .events import AgentState, UserState
from .options import TurnOptions
from .speech import Speech, StepResult

if TYPE_CHECKING:
    from flowagents.llm import ToolExecution

    from .agent import Agent

__all__ = ["ActiveAgent", "AgentActivity", "FalseInterruptionExpired", "PlaybackEvent",
           "PlayoutControl", "ProviderRequest", "ToolRound", "UserStateChange"]


@dataclass(frozen=True, slots=True)
class ActiveAgent:
    """The agent now in charge and the turn options in force (at start and at each handoff)."""

    agent: Agent
    options: TurnOptions
    time: float


@dataclass(frozen=True, slots=True)
class FalseInterruptionExpired:
    """A barge-in that got no words within ``false_interruption_timeout`` after the user stopped,
    whose speech could not be resumed (it was interrupted at once, or ended meanwhile)."""

    speech_id: str
    time: float


@dataclass(frozen=True, slots=True)
class AgentActivity:
    """What the agent is doing (playout's feedback to the input side): its state, the speech in
    flight (if any), whether that speech may be interrupted, and whether it is paused."""

    state: AgentState
    time: float
    speech_id: str | None = None
    allow_interruptions: bool = True
    paused: bool = False

    @property
    def busy(self) -> bool:
        """A speech is in flight (thinking, speaking or paused)."""
        return self.speech_id is not None


@dataclass(frozen=True, slots=True)
class PlayoutControl:
    """An order to playout. About the speech ``speech_id`` in flight: ``pause``, ``resume``,
    ``interrupt``. About every speech: ``interrupt_all`` (``session.interrupt()``: every
    interruptible speech, playing or queued). About a user turn committed at ``time`` for a
    reply: ``supersede`` (the interruptible speech in flight and the queued replies, all from
    before the turn, stop; the agent is thinking until the turn's reply comes) and ``settle``
    (the turn gets no reply after all: stop waiting for it)."""

    action: Literal["pause", "resume", "interrupt", "interrupt_all", "supersede", "settle"]
    speech_id: str | None
    time: float


@dataclass(frozen=True, slots=True)
class PlaybackEvent:
    """Something playout did: ``started`` / ``paused`` / ``resumed`` / ``cleared`` (audio dropped
    downstream) / ``step_done`` (with its :class:`StepResult`) / ``done`` (the speech ended)."""

    kind: Literal["started", "paused", "resumed", "cleared", "step_done", "done"]
    speech: Speech
    time: float
    step: StepResult | None = None


@dataclass(frozen=True, slots=True)
class UserStateChange:
    """The user's state, dated (speaking/listening back to the VAD's start/end of speech)."""

    state: UserState
    time: float


@dataclass(frozen=True, slots=True)
class ToolRound:
    """One round of tool calls of a reply, executed: what the history records, and the agent a
    tool handed the conversation to (``handoff``), which goes back to the active agent."""

    speech: Speech
    executions: tuple[ToolExecution, ...]
    time: float
    handoff: Agent | None = None


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One attempt of a reply's LLM call or TTS synthesis, as it ended (what a session
    recording keeps: a replay answers with what the providers really answered, when they did).

    ``input``: what the LLM answered (the last user or instruction message, or tool output) or
    the text voiced. ``start``, ``first`` (the first item; None: none came) and ``end`` are
    session-clock times. An LLM request has its ``content``, each piece's time after ``start``
    (``chunks``) and its ``tool_calls`` as ``(name, arguments)``; a TTS request the seconds of
    ``audio`` it made. ``cancelled``: it ended before its last item (closed, timed out or
    failed); ``error``: the type name of the error it failed with (never the message, which
    could carry a secret; ``APITimeoutError`` for a stall the session timed out) and
    ``retryable`` what that error said."""

    kind: Literal["llm", "tts"]
    input: str
    start: float
    first: float | None
    end: float
    speech_id: str = ""
    content: str = ""
    chunks: tuple[tuple[float, str], ...] = ()
    tool_calls: tuple[tuple[str, str], ...] = ()
    audio: float = 0.0
    cancelled: bool = False
    error: str | None = None
    retryable: bool = True
