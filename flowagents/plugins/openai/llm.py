"""OpenAI-compatible chat completions, streamed over server-sent events.

``POST {base_url}/chat/completions`` with ``stream: true`` and ``stream_options.include_usage``:
each ``data:`` line is a ``chat.completion.chunk`` whose delta carries text or pieces of tool
calls (keyed by ``index``; the id and name come once, the arguments in fragments), the last chunk
before ``data: [DONE]`` carries the usage. The same wire format is served by OpenAI, Groq,
Together, Ollama, vLLM and the llama.cpp server, so ``base_url`` is all that changes. A stream
that ends before ``[DONE]`` (and before a finish reason) is a broken connection; a frame that is
not JSON is a malformed reply. Each attempt is retried by :func:`flowagents.retry.retry_stream`
under the call's connection options until its first chunk; closing the iterator closes the HTTP
stream, so the server sees the client go.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectionError,
    APIConnectOptions,
    APIError,
    NotGiven,
)
from flowagents.llm.llm import LLM as BaseLLM
from flowagents.llm.llm import ToolChoice
from flowagents.plugins._http import (
    APIKey,
    HTTPSession,
    connection_error,
    response_error,
    timeout_for,
)
from flowagents.retry import retry_stream
from flowagents.types import ChatChunk, FunctionToolCallDelta, TokenUsage

if TYPE_CHECKING:
    from flowagents.llm.chat_context import ChatContext
    from flowagents.llm.tool_context import FunctionTool

__all__ = ["DEFAULT_BASE_URL", "LLM"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LLM(BaseLLM):
    """A chat model behind an OpenAI-compatible endpoint.

    ``api_key`` defaults to ``OPENAI_API_KEY`` (needed for OpenAI itself; optional for a local
    server given by ``base_url``, which defaults to ``OPENAI_BASE_URL`` or OpenAI's). Options
    left ``NOT_GIVEN`` are not sent, so each server applies its own default.
    """

    label = "openai"

    def __init__(self, *, model: str = "gpt-4o-mini", api_key: str | None = None,
                 base_url: str | None = None,
                 temperature: float | NotGiven = NOT_GIVEN,
                 parallel_tool_calls: bool | NotGiven = NOT_GIVEN,
                 tool_choice: ToolChoice | NotGiven = NOT_GIVEN,
                 max_completion_tokens: int | NotGiven = NOT_GIVEN,
                 user: str | NotGiven = NOT_GIVEN) -> None:
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self._key = APIKey("openai", api_key, "OPENAI_API_KEY",
                           required=self.base_url == DEFAULT_BASE_URL)
        self._options: dict[str, Any] = {
            k: v for k, v in {"temperature": temperature, "user": user,
                              "max_completion_tokens": max_completion_tokens}.items()
            if not isinstance(v, NotGiven)}
        self._parallel_tool_calls = parallel_tool_calls
        self._tool_choice = tool_choice
        self._http = HTTPSession()

    def chat(
        self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = (),
        tool_choice: ToolChoice = "auto",
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[ChatChunk]:
        payload: dict[str, Any] = {
            "model": self.model, "messages": chat_ctx.to_provider_format("openai"),
            "stream": True, "stream_options": {"include_usage": True}, **self._options}
        if tools:
            payload["tools"] = [t.openai_schema() for t in tools]
            choice = (self._tool_choice if not isinstance(self._tool_choice, NotGiven)
                      and tool_choice == "auto" else tool_choice)
            payload["tool_choice"] = choice
            if not isinstance(self._parallel_tool_calls, NotGiven):
                payload["parallel_tool_calls"] = self._parallel_tool_calls
        return retry_stream(lambda: self._attempt(payload, conn_options),
                            conn_options=conn_options, label=self.label)

    async def _attempt(self, payload: dict[str, Any], options: APIConnectOptions
                       ) -> AsyncIterator[ChatChunk]:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        url = f"{self.base_url}/chat/completions"
        try:
            async with self._http.get().post(url, json=payload, headers=headers,
                                              timeout=timeout_for(options.timeout)) as resp:
                if resp.status != 200:
                    raise await response_error("openai", resp, self._key)
                request_id = resp.headers.get("x-request-id", "")
                parser = _ChunkParser(request_id)
                async for data in _sse_data(resp.content):
                    if data == "[DONE]":
                        return
                    for chunk in parser.feed(data, self._key):
                        yield chunk
                if not parser.finished:
                    raise APIConnectionError("openai: the stream ended before [DONE]")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("openai", e, self._key) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"openai.LLM(model={self.model!r}, base_url={self.base_url!r})"


async def _sse_data(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined; comments skipped)."""
    lines: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if lines:
        yield "\n".join(lines)


class _ChunkParser:
    """``chat.completion.chunk`` JSON to :class:`ChatChunk`: tool-call ids and names are passed
    once per index (some servers repeat them), arguments as they come."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.finished = False
        self._ids: set[int] = set()
        self._names: set[int] = set()

    def feed(self, data: str, key: APIKey) -> list[ChatChunk]:
        try:
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                raise TypeError
        except (ValueError, TypeError):
            raise APIError("openai: malformed frame in the stream (not a JSON object)",
                           body=key.scrub(data[:200])) from None
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise APIError(f"openai: error in the stream: {key.scrub(message)}", body=chunk)
        out: list[ChatChunk] = []
        chunk_id = str(chunk.get("id") or self.request_id)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            calls = tuple(self._calls(delta.get("tool_calls") or ()))
            text = delta.get("content") or ""
            if text or calls:
                out.append(ChatChunk(id=chunk_id, delta=text, tool_calls=calls))
            if choice.get("finish_reason"):
                self.finished = True
        usage = chunk.get("usage")
        if usage:
            details = usage.get("prompt_tokens_details") or {}
            out.append(ChatChunk(id=chunk_id, usage=TokenUsage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cached_tokens=int(details.get("cached_tokens") or 0))))
        return out

    def _calls(self, pieces: Sequence[dict[str, Any]]) -> list[FunctionToolCallDelta]:
        out = []
        for position, piece in enumerate(pieces):
            index = int(piece.get("index", position))
            function = piece.get("function") or {}
            call_id = "" if index in self._ids else piece.get("id") or ""
            name = "" if index in self._names else function.get("name") or ""
            if call_id:
                self._ids.add(index)
            if name:
                self._names.add(index)
            out.append(FunctionToolCallDelta(index=index, call_id=call_id, name=name,
                                             arguments=function.get("arguments") or ""))
        return out
