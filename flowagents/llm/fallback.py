"""LLM fallback: try LLMs in order, switch on failure, switch back when the first recovers.

Each LLM gets its own short retry budget (``max_retry_per_llm``, ``attempt_timeout``); a
retryable failure after it marks that LLM unavailable (an ``availability_changed`` event), starts
a recovery probe owned by the adapter (it replays the failed request every
``recovery_interval`` s until it succeeds; cancelled by ``aclose()``), and moves to the next
LLM. A reply that fails after some of its text streamed is not restarted (the user may have
heard that text) but completed: the next LLM gets the context with the text said so far as the
assistant's message and continues it, so the turn keeps one reply. A reply that already streamed
tool-call pieces cannot be completed that way: its error is raised. When every LLM failed,
``APIConnectionError("all LLMs failed")`` is raised (not retryable: the chain was already
retried). Non-retryable errors (a bad request) are raised as is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
)
from flowagents.retry import Availability, AvailabilityChangedEvent, retry_stream
from flowagents.types import ChatChunk

from .chat_context import ChatContext
from .llm import LLM, ToolChoice
from .tool_context import FunctionTool

__all__ = ["FallbackAdapter"]

logger = logging.getLogger("flowagents.llm")


class FallbackAdapter(LLM):
    """An LLM that is the first healthy one of ``llms``. Emits ``availability_changed``."""

    def __init__(self, llms: Sequence[LLM], *, attempt_timeout: float = 10.0,
                 max_retry_per_llm: int = 1, retry_interval: float = 0.5,
                 recovery_interval: float = 5.0) -> None:
        self.llms = list(llms)
        self.availability: Availability[LLM] = Availability(
            self.llms, recovery_interval=recovery_interval, probe_timeout=attempt_timeout)
        self._options = APIConnectOptions(max_retry=max_retry_per_llm,
                                          retry_interval=retry_interval, timeout=attempt_timeout)
        self.label = "fallback(" + ",".join(llm.label for llm in self.llms) + ")"
        self.model = self.llms[0].model

    def on(self, event: Literal["availability_changed"],
           callback: Callable[[AvailabilityChangedEvent[LLM]], None]) -> None:
        if event != "availability_changed":
            raise ValueError(f"unknown event {event!r}")
        self.availability.on_change(callback)

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: Sequence[FunctionTool] = (),
        tool_choice: ToolChoice = "auto",
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[ChatChunk]:
        """Stream from the first LLM that answers; ``conn_options`` is replaced by the
        adapter's per-LLM budget (the chain is the retry strategy)."""
        return self._chat(chat_ctx, tools, tool_choice)

    async def _chat(self, chat_ctx: ChatContext, tools: Sequence[FunctionTool],
                    tool_choice: ToolChoice) -> AsyncIterator[ChatChunk]:
        opts = self._options
        said: list[str] = []  # the reply's text so far, over every LLM that took part
        for index in self.availability.order():
            llm = self.llms[index]
            ctx = chat_ctx
            if said:
                ctx = chat_ctx.copy()
                ctx.add_message(role="assistant", content="".join(said))
            calls_sent = False

            def open_stream(llm: LLM = llm, ctx: ChatContext = ctx) -> AsyncIterator[ChatChunk]:
                return llm.chat(chat_ctx=ctx, tools=tools, tool_choice=tool_choice,
                                conn_options=opts.once())

            try:
                async for chunk in retry_stream(open_stream, conn_options=opts, label=llm.label):
                    said.append(chunk.delta)
                    calls_sent = calls_sent or bool(chunk.tool_calls)
                    yield chunk
            except APIError as e:
                if calls_sent or not e.retryable:
                    raise
                logger.warning("LLM failed, trying the next one",
                               extra={"llm": llm.label, "mid_reply": any(said)})
                self.availability.mark_unavailable(index, self._probe(llm, chat_ctx, tools))
                continue
            self.availability.mark_available(index)
            return
        raise APIConnectionError("all LLMs failed", retryable=False)

    def _probe(self, llm: LLM, chat_ctx: ChatContext, tools: Sequence[FunctionTool]
               ) -> Callable[[], Any]:
        ctx = chat_ctx.copy()
        once = APIConnectOptions(max_retry=0, timeout=self._options.timeout)

        async def probe() -> None:
            async for _ in llm.chat(chat_ctx=ctx, tools=tools, conn_options=once):
                pass

        return probe

    async def aclose(self) -> None:
        """Stop the recovery probes (the wrapped LLMs are owned by the caller)."""
        await self.availability.aclose()
