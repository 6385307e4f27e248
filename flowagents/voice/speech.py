"""Speech: one thing the agent says (a ``say`` or a generated reply), and the handle users hold.

A :class:`SpeechHandle` is LiveKit's: awaitable (until playout ends), ``interrupt()``, ``done()``,
``interrupted``. Behind it, a :class:`Speech` is the value that flows through the reply half of
the voice graph: the turn node creates it, the LLM node attaches its text stream, the TTS node its
audio stream, and the playout node plays it. Its streams are cold observables composed lazily, so
disposing the playout's subscription (an interruption) cancels the TTS and LLM calls behind it.
A preemptive speech flows through once *unscheduled* (its LLM, and optionally TTS, start early and
are replayed) and again when its turn commits; it is cancelled instead if the turn changed.
A user turn's speech carries its ``user_turn`` OpenTelemetry span: the LLM, TTS and tool spans of
its work are opened under it (:meth:`Speech.traced`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from reactivex import Observable
from reactivex.disposable import CompositeDisposable

from flowagents.llm import ChatContext, ToolChoice
from flowagents.types import AudioFrame

if TYPE_CHECKING:
    from flowagents.voice.turns import UserTurn

    from .agent import Agent

from .handle import SpeechHandle

__all__ = ["AgentAudio", "ReplyText", "Speech", "SpeechHandle", "StepResult"]

_ids = itertools.count(1)
_UNTRACED: AbstractContextManager[None] = nullcontext()


@dataclass(frozen=True, slots=True)
class ReplyText:
    """A piece of a speech's text: ``delta`` for ``step``; ``end_of_step`` closes the step."""

    step: int
    delta: str = ""
    end_of_step: bool = False


@dataclass(frozen=True, slots=True)
class AgentAudio:
    """A piece of a speech's audio. ``frame`` None is a marker: ``end_of_segment`` closes the
    segment (a sentence) whose ``text`` came on its first chunk; ``end_of_step`` closes a step."""

    frame: AudioFrame | None
    step: int = 0
    text: str = ""
    end_of_segment: bool = False
    end_of_step: bool = False


@dataclass(frozen=True, slots=True)
class StepResult:
    """What playout made of one step: the text played (cut at the position when interrupted)."""

    step: int
    text: str
    started_at: float | None
    ended_at: float
    position: float
    interrupted: bool


@dataclass(eq=False)
class Speech:
    """The reply half of the graph's unit of work (see the module docstring)."""

    handle: SpeechHandle
    agent: Agent | None = None
    say_text: str | AsyncIterable[str] | None = None  # set for ``say``; else the LLM generates
    add_to_chat_ctx: bool = True
    chat_ctx: ChatContext | None = None  # the context of the first LLM step (a snapshot)
    tool_choice: ToolChoice = "auto"
    user_turn: UserTurn | None = None
    replaces_current: bool = False  # a user turn's reply interrupts the reply in flight
    preemptive: bool = False
    scheduled: bool = True
    created_at: float = 0.0
    text: Observable[ReplyText] | None = None
    audio: Observable[AgentAudio] | None = None
    resources: CompositeDisposable = field(default_factory=CompositeDisposable)
    _steps: dict[int, asyncio.Future[StepResult]] = field(default_factory=dict)
    step_results: list[StepResult] = field(default_factory=list)
    _scheduled: asyncio.Future[None] | None = None
    span: trace.Span | None = None  # the user turn's span, when this speech answers one

    @property
    def id(self) -> str:
        return self.handle.id

    def traced(self) -> AbstractContextManager[None]:
        """Make this speech's turn span the current one (spans opened inside are its children).
        Enter and leave it in the same task. Without a span (no SDK) a shared no-op context."""
        if self.span is None or not self.span.get_span_context().is_valid:
            return _UNTRACED
        return self._traced(self.span)

    @staticmethod
    @contextmanager
    def _traced(span: trace.Span) -> Iterator[None]:
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def wait_scheduled(self) -> asyncio.Future[None]:
        """Resolved once the speech is scheduled (at once unless it is preemptive)."""
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().create_future()
            if self.scheduled:
                self._scheduled.set_result(None)
        return self._scheduled

    def schedule(self) -> None:
        """A preemptive speech's turn committed unchanged: it may now act and play."""
        self.scheduled = True
        if self._scheduled is not None and not self._scheduled.done():
            self._scheduled.set_result(None)

    def step_future(self, step: int) -> asyncio.Future[StepResult]:
        fut = self._steps.get(step)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._steps[step] = fut
        return fut

    def step_played(self, result: StepResult) -> None:
        """Called by playout when a step's audio has ended (played out or interrupted)."""
        self.step_results.append(result)
        fut = self._steps.get(result.step)
        if fut is None:
            try:
                fut = asyncio.get_running_loop().create_future()
            except RuntimeError:
                return
            self._steps[result.step] = fut
        if not fut.done():
            fut.set_result(result)

    def cancel(self) -> None:
        """Drop a preemptive speech that will never play, or end one that has played: dispose
        what it started early and let go of its streams (their closures refer back to the
        speech: without this every reply is a reference cycle left to the garbage collector)."""
        self.resources.dispose()
        self.text = self.audio = None
        for fut in self._steps.values():
            fut.cancel()
