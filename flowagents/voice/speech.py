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
from collections.abc import AsyncIterable, Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.llm import ChatContext, ChatItem, ToolChoice
from flowagents.types import AudioFrame

if TYPE_CHECKING:
    from nodes.endpointing import UserTurn

    from .agent import Agent
    from .events import SpeechSource

__all__ = ["AgentAudio", "ReplyText", "Speech", "SpeechHandle", "StepResult"]

_ids = itertools.count(1)
_UNTRACED: AbstractContextManager[None] = nullcontext()


class _Unwatch(abc.DisposableBase):
    """Unregisters an ``on_interrupted`` callback (lock-free: loop thread only)."""

    __slots__ = ("entry",)

    def __init__(self, entry: list[Callable[[], None] | None]) -> None:
        self.entry = entry

    def dispose(self) -> None:
        self.entry[0] = None


class SpeechHandle:
    """A reply in the making. ``await handle`` waits until it has played (or was interrupted)."""

    def __init__(self, *, allow_interruptions: bool, source: SpeechSource = "say",
                 user_initiated: bool = False) -> None:
        self.id = f"speech_{next(_ids)}"
        self.allow_interruptions = allow_interruptions
        self.source: SpeechSource = source
        self.user_initiated = user_initiated
        self.num_steps = 1
        self.chat_items: list[ChatItem] = []
        self._interrupted = False
        self._watchers: list[list[Callable[[], None] | None]] = []
        self._done: asyncio.Future[None] | None = None
        self._done_flag = False
        self._callbacks: list[Callable[[SpeechHandle], None]] = []

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def on_interrupted(self, callback: Callable[[], None]) -> abc.DisposableBase:
        """Call ``callback()`` once, when the speech is interrupted (at once if it already is);
        disposing the result unregisters it. What playout watches per speech: a callback, not a
        subject piped through operators, since a subscription is set up per reply."""
        if self._interrupted:
            callback()
            return _Unwatch([None])
        entry: list[Callable[[], None] | None] = [callback]
        self._watchers.append(entry)
        return _Unwatch(entry)

    @property
    def interrupted_stream(self) -> Observable[bool]:
        """Emits True once, when the speech is interrupted (replays it to late subscribers)."""

        def subscribe(observer: abc.ObserverBase[bool],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            def fire() -> None:
                observer.on_next(True)
                observer.on_completed()

            return self.on_interrupted(fire)

        return Observable(subscribe)

    def done(self) -> bool:
        return self._done_flag

    def interrupt(self, *, force: bool = False) -> SpeechHandle:
        """Stop this speech (its LLM, TTS and playout). Refused when it disallows interruptions,
        unless ``force``."""
        if not force and not self.allow_interruptions:
            raise RuntimeError("this speech does not allow interruptions")
        if not self._done_flag and not self._interrupted:
            self._interrupted = True
            watchers, self._watchers = self._watchers, []
            for entry in watchers:
                callback = entry[0]
                if callback is not None:  # not unregistered by an earlier one
                    entry[0] = None
                    callback()
        return self

    def add_done_callback(self, callback: Callable[[SpeechHandle], None]) -> None:
        if self._done_flag:
            callback(self)
        else:
            self._callbacks.append(callback)

    async def wait_for_playout(self) -> None:
        if self._done_flag:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)

    def __await__(self) -> Generator[Any, None, SpeechHandle]:
        yield from self.wait_for_playout().__await__()
        return self

    def _mark_done(self) -> None:
        if self._done_flag:
            return
        self._done_flag = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        for callback in self._callbacks:
            callback(self)
        self._callbacks.clear()

    def __repr__(self) -> str:
        return f"SpeechHandle({self.id}, interrupted={self.interrupted}, done={self.done()})"


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
