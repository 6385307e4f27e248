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

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError
from flowagents.retry import AvailabilityChangedEvent, FallbackChain, retry_stream
from flowagents.types import ChatChunk

from .chat_context import ChatContext
from .llm import LLM, ToolChoice
from .tool_context import FunctionTool

__all__ = ["FallbackAdapter"]

class FallbackAdapter(LLM):
    """An LLM that is the first healthy one of ``llms``. Emits ``availability_changed``."""

    def __init__(self, llms: Sequence[LLM], *, attempt_timeout: float = 10.0,
                 max_retry_per_llm: int = 1, retry_interval: float = 0.5,
                 recovery_interval: float = 5.0) -> None:
        self.chain: FallbackChain[LLM] = FallbackChain(
            llms, "LLM", attempt_timeout=attempt_timeout, max_retry=max_retry_per_llm,
            retry_interval=retry_interval, recovery_interval=recovery_interval)
        self.llms, self.availability = self.chain.providers, self.chain.availability
        self.label = self.chain.label
        self.model = self.llms[0].model

    def on(self, event: Literal["availability_changed"],
           callback: Callable[[AvailabilityChangedEvent[LLM]], None]) -> None:
        self.chain.on(event, callback)

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
        opts = self.chain.options
        said: list[str] = []  # the reply's text so far, over every LLM that took part
        for index, llm in self.chain.order():
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
                # text said so far is completed by the next LLM; tool-call pieces cannot be
                self.chain.failover(index, e, self._probe(llm, chat_ctx, tools),
                                    delivered=calls_sent)
                continue
            self.chain.availability.mark_available(index)
            return
        raise self.chain.exhausted()

    def _probe(self, llm: LLM, chat_ctx: ChatContext, tools: Sequence[FunctionTool]
               ) -> Callable[[], Any]:
        ctx = chat_ctx.copy()
        once = self.chain.probe_options

        async def probe() -> None:
            async for _ in llm.chat(chat_ctx=ctx, tools=tools, conn_options=once):
                pass

        return probe

    async def aclose(self) -> None:
        """Stop the recovery probes (the wrapped LLMs are owned by the caller)."""
        await self.chain.aclose()
