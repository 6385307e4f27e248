"""A reply's provider calls: bounded in time, retried while nothing came, and noted.

A reply calls its LLM (``agent.llm_node``) once per step and its TTS (``agent.tts_node``) once
per sentence. A provider that stalls would leave the agent thinking forever, and one that fails
before it said anything deserves another try, so each call runs under the session's
:class:`~flowagents.voice.options.SessionConnectOptions` through
:func:`flowagents.retry.retry_stream`: ``timeout`` bounds the wait for the first item and for
each next one (on the job's loop clock: exact in virtual time), and a retryable failure is
retried (``max_retry`` times, ``retry_interval`` apart, the first at once) only while the
attempt delivered nothing (after that, a retry would repeat what the user may have heard). A
provider that runs a :class:`~flowagents.retry.FallbackChain` (the fallback adapters) is its own
retry strategy: its calls run as they are. A call reached in an eager start (the TTS node's
audio starts so) steps into its own task first, so its timeouts cancel that task, not the
subscriber's. A failure that ends the call is raised as a
:class:`~flowagents.graph.NodeError` naming the stage (``"llm"``, ``"tts"``), which the session
reports as an ``error`` event from that source.

Every attempt is noted as a :class:`~flowagents.voice.signals.ProviderRequest` on the node's
``requests`` port (what session recordings keep), so recording never replaces the session's
providers with proxies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Literal, TypeVar

from flowagents.errors import APIConnectOptions
from flowagents.graph import NodeError, register_type
from flowagents.llm import ChatContext
from flowagents.retry import FallbackChain, is_retryable, retry_stream
from flowagents.runtime.bridge import running_eagerly
from flowagents.types import AudioFrame, ChatChunk, SynthesizedAudio
from flowagents.voice.signals import ProviderRequest

__all__ = ["ProviderCalls", "last_input"]

register_type(ProviderRequest)

T = TypeVar("T")


def last_input(chat_ctx: ChatContext) -> str:
    """The text an LLM call answers: the last user or instruction message, or tool output."""
    for item in reversed(chat_ctx.items):
        if item.type == "function_call_output":
            return str(item.output)
        if item.type == "message" and item.role != "assistant":
            return item.text_content or ""
    return ""


def _timed(provider: Any) -> bool:
    """Whether the policy applies: not to a provider that runs a fallback chain (the chain's
    attempt timeouts and per-provider retries are its policy)."""
    return not isinstance(getattr(provider, "chain", None), FallbackChain)


class _Attempt:
    """What one attempt delivered so far, and when."""

    __slots__ = ("audio", "calls", "chunks", "content", "first", "last", "now", "start")

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.start = now()
        self.first: float | None = None
        self.last: float | None = None
        self.content: list[str] = []
        self.chunks: list[tuple[float, str]] = []
        self.calls: dict[int, list[str]] = {}
        self.audio = 0.0

    def llm(self, item: ChatChunk | str) -> None:
        t = self.now()
        if self.first is None:
            self.first = t
        delta = item if isinstance(item, str) else item.delta
        if delta:
            self.content.append(delta)
            self.chunks.append((round(t - self.start, 6), delta))
        if isinstance(item, ChatChunk):
            for piece in item.tool_calls:  # the pieces of one call share its index
                call = self.calls.setdefault(piece.index, ["", ""])
                call[0] += piece.name
                call[1] += piece.arguments

    def tts(self, item: AudioFrame | SynthesizedAudio) -> None:
        if self.first is None:
            self.first = self.now()
        frame = item.frame if isinstance(item, SynthesizedAudio) else item
        self.audio += frame.duration


class ProviderCalls:
    """The calls of one stage (``"llm"`` or ``"tts"``) of one job: the session's options for
    them, the clock, and where each attempt is noted (see the module docstring)."""

    __slots__ = ("note", "now", "options", "stage")

    def __init__(self, stage: Literal["llm", "tts"], options: APIConnectOptions,
                 now: Callable[[], float], note: Callable[[ProviderRequest], None]) -> None:
        self.stage, self.options, self.now, self.note = stage, options, now, note

    def llm(self, provider: Any, chat_ctx: ChatContext, speech_id: str,
            call: Callable[[], AsyncIterable[ChatChunk | str]]
            ) -> AsyncIterator[ChatChunk | str]:
        """``call()`` (an ``llm_node`` stream) under the policy, each attempt noted."""
        key = last_input(chat_ctx)

        def attempt() -> AsyncIterator[ChatChunk | str]:
            return self._watch(call(), _Attempt.llm, key, speech_id, _timed(provider))

        return self._run(provider, attempt)

    def tts(self, provider: Any, text: str, speech_id: str,
            call: Callable[[], AsyncIterable[AudioFrame | SynthesizedAudio]]
            ) -> AsyncIterator[AudioFrame | SynthesizedAudio]:
        """``call()`` (a ``tts_node`` stream voicing ``text``) under the policy, noted."""

        def attempt() -> AsyncIterator[AudioFrame | SynthesizedAudio]:
            return self._watch(call(), _Attempt.tts, text, speech_id, _timed(provider))

        return self._run(provider, attempt)

    async def _run(self, provider: Any, attempt: Callable[[], AsyncIterator[T]]
                   ) -> AsyncIterator[T]:
        label = str(getattr(provider, "label", self.stage))
        if running_eagerly():  # its timeouts must belong to the task that goes on with it
            await asyncio.sleep(0)
        if not _timed(provider):
            stream = attempt()  # the chain is the retry strategy
        else:
            stream = retry_stream(attempt, conn_options=self.options, label=label)
        try:
            async for item in stream:
                yield item
        except NodeError:
            raise
        except Exception as exc:
            raise NodeError(self.stage, None, exc)  # noqa: B904 (NodeError chains its cause)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def _watch(self, source: AsyncIterable[T], seen: Callable[[_Attempt, T], None],
                     key: str, speech_id: str, timed: bool) -> AsyncIterator[T]:
        stream = aiter(source)
        rec = _Attempt(self.now)
        done = False
        error: str | None = None
        retryable = True
        try:
            async for item in stream:
                seen(rec, item)
                rec.last = self.now()
                yield item
            done = True
        except Exception as exc:
            error, retryable = type(exc).__name__, is_retryable(exc)
            raise
        except asyncio.CancelledError:
            # retry_stream's timeout cancels the wait: a cancel exactly one timeout after the
            # last item (or the call) is that timeout, not the session dropping the reply
            waited = self.now() - (rec.last if rec.last is not None else rec.start)
            if timed and waited >= self.options.timeout - 1e-9:
                error = "APITimeoutError"
            raise
        finally:
            closer = getattr(stream, "aclose", None)
            if not done and closer is not None:
                await closer()
            self.note(ProviderRequest(
                self.stage, key, rec.start, rec.first, self.now(), speech_id,
                content="".join(rec.content), chunks=tuple(rec.chunks),
                tool_calls=tuple((name, args) for name, args in rec.calls.values()),
                audio=round(rec.audio, 6), cancelled=not done, error=error,
                retryable=retryable))
