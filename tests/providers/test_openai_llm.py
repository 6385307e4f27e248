"""openai.LLM against the local OpenAI server: the stream, tool calls, failures and cancellation.

Each test runs client and server on one virtual-time loop, so timeouts and Retry-After waits
are exact and instant.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from flowagents.errors import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
)
from flowagents.llm import ChatContext, function_tool
from flowagents.plugins import openai
from flowagents.runtime import run_virtual
from flowagents.types import ChatChunk

from .openai_server import Fault, OpenAIServer, Reply, ToolCall

T = TypeVar("T")
KEY = "sk-test-0123456789"


def _ctx(text: str = "What's the weather in Paris?") -> ChatContext:
    ctx = ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    ctx.add_message(role="user", content=text)
    return ctx


def serve(test: Callable[[OpenAIServer, openai.LLM], Awaitable[T]], *,
          api_key: str = KEY) -> tuple[T, OpenAIServer]:
    server = OpenAIServer(api_key=KEY)

    async def main() -> T:
        async with server as url:
            llm = openai.LLM(model="gpt-4o-mini", base_url=url, api_key=api_key)
            try:
                return await test(server, llm)
            finally:
                await llm.aclose()

    return run_virtual(main()), server


async def collect(llm: openai.LLM, options: APIConnectOptions | None = None,
                  **kwargs: Any) -> list[ChatChunk]:
    opts = options or APIConnectOptions()
    return [c async for c in llm.chat(chat_ctx=_ctx(), conn_options=opts, **kwargs)]


async def drain(llm: openai.LLM, into: list[str]) -> None:
    """Read a reply into ``into`` (what was heard before a failure stays there)."""
    async for chunk in llm.chat(chat_ctx=_ctx()):
        into.append(chunk.delta)


def calls_of(chunks: list[ChatChunk]) -> list[tuple[str, str, str]]:
    """Tool-call pieces joined by index, as the reply node joins them."""
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for piece in chunk.tool_calls:
            call = calls.setdefault(piece.index, ["", "", ""])
            call[0] += piece.call_id
            call[1] += piece.name
            call[2] += piece.arguments
    return [tuple(c) for _, c in sorted(calls.items())]  # type: ignore[misc]


async def iterations_until(condition: Callable[[], bool], limit: int = 50) -> int:
    """How many loop iterations pass until ``condition()`` holds."""
    import asyncio

    for n in range(limit):
        if condition():
            return n
        await asyncio.sleep(0)
    raise AssertionError(f"not within {limit} loop iterations")


def test_streamed_reply_text_usage_and_request() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> list[ChatChunk]:
        server.replies.append(Reply(text="It is sunny in Paris today.", split_frames=True,
                                    usage=(31, 8)))
        return await collect(llm)

    chunks, server = serve(test)
    assert [c.delta for c in chunks if c.delta] == ["It ", "is ", "sunny ", "in ", "Paris ",
                                                    "today."]
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (31, 8)
    assert all(c.id.startswith("chatcmpl-") for c in chunks)
    (body,) = server.requests("chat")
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "What's the weather in Paris?"}]
    assert "tools" not in body
    assert "tool_choice" not in body
    assert server.seen[0][2]["Authorization"] == f"Bearer {KEY}"


@function_tool
async def get_weather(location: str) -> str:
    """Look up the weather.

    Args:
        location: the city
    """
    return "sunny"


@function_tool
async def get_time(zone: str) -> str:
    """The time in a zone."""
    return "noon"


def test_parallel_tool_calls_split_at_awkward_boundaries() -> None:
    weather = '{"location": "Z\\u00fcrich, \\"CH\\" é"}'
    time = '{"zone":"Europe/Zürich"}'

    async def test(server: OpenAIServer, llm: openai.LLM) -> list[ChatChunk]:
        server.replies.append(Reply(text="Let me check.", split=1, split_frames=True,
                                    tool_calls=[ToolCall("get_weather", weather, "call_a"),
                                                ToolCall("get_time", time, "call_b")]))
        return await collect(llm, tools=[get_weather, get_time], tool_choice="required")

    chunks, server = serve(test)
    assert "".join(c.delta for c in chunks) == "Let me check."
    assert calls_of(chunks) == [("call_a", "get_weather", weather), ("call_b", "get_time", time)]
    # the id and name come once per call, the arguments one character at a time
    assert sum(1 for c in chunks for p in c.tool_calls if p.name) == 2
    assert max(len(p.arguments) for c in chunks for p in c.tool_calls) == 1
    (body,) = server.requests("chat")
    assert body["tool_choice"] == "required"
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["location"]


def test_tool_choice_and_parallel_calls_options_are_sent() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> None:
        llm2 = openai.LLM(base_url=llm.base_url, api_key=KEY, parallel_tool_calls=False,
                          temperature=0.2)
        named = {"type": "function", "function": {"name": "get_time"}}
        async for _ in llm2.chat(chat_ctx=_ctx(), tools=[get_time], tool_choice=named):
            pass
        await llm2.aclose()

    _, server = serve(test)
    (body,) = server.requests("chat")
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert body["parallel_tool_calls"] is False
    assert body["temperature"] == 0.2


def test_disconnect_mid_stream_after_output_raises_without_retry() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> list[str]:
        server.replies.append(Reply(text="one two three four", disconnect_after=3))
        got: list[str] = []
        with pytest.raises(APIConnectionError, match="openai: connection failed"):
            await drain(llm, got)
        return got

    got, server = serve(test)
    assert got == ["one ", "two "]
    assert len(server.requests("chat")) == 1  # what was said cannot be retried


def test_disconnect_before_any_output_is_retried() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> list[ChatChunk]:
        server.replies.extend([Reply(text="lost", disconnect_after=1), Reply(text="kept")])
        return await collect(llm)

    chunks, server = serve(test)
    assert "".join(c.delta for c in chunks) == "kept"
    assert len(server.requests("chat")) == 2
    assert server.times == [0.0, 0.0]  # the first retry is immediate


def test_malformed_frame() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> tuple[str, list[str]]:
        # before any output: a malformed reply is retried
        server.replies.extend([Reply(text="bad", malformed_at=1), Reply(text="good")])
        first = "".join(c.delta for c in await collect(llm))
        # after output: raised, with the frame (scrubbed) as the body
        server.replies.append(Reply(text="a b c", malformed_at=3))
        got: list[str] = []
        with pytest.raises(APIError, match="malformed frame") as info:
            await drain(llm, got)
        assert "broken" in info.value.body
        return first, got

    (first, got), server = serve(test)
    assert first == "good"
    assert got == ["a ", "b "]
    assert len(server.requests("chat")) == 3


def test_slow_first_byte_times_out_and_retries_per_options() -> None:
    options = APIConnectOptions(max_retry=1, retry_interval=2.0, timeout=5.0)

    async def test(server: OpenAIServer, llm: openai.LLM) -> float:
        server.replies.extend([Reply(text="late", delay=30.0), Reply(text="late", delay=30.0)])
        with pytest.raises(APITimeoutError):
            await collect(llm, options)
        import asyncio
        return asyncio.get_running_loop().time()

    failed_at, server = serve(test)
    assert server.times == [0.0, 5.0]  # attempt, then the (immediate) retry
    assert failed_at == pytest.approx(10.0)
    assert server.closed_at == pytest.approx([5.0, 10.0])  # each timed-out attempt hung up


def test_429_waits_for_retry_after() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> list[ChatChunk]:
        server.replies.extend([
            Fault(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                  headers={"Retry-After": "3", "x-request-id": "req_429"}),
            Fault(429, {"error": {"message": "Rate limit reached"}},
                  headers={"Retry-After": "1"}),
            Reply(text="finally")])
        return await collect(llm)

    chunks, server = serve(test)
    assert "".join(c.delta for c in chunks) == "finally"
    # the first retry would be immediate and the next 2 s later: Retry-After makes them 3 s, 2 s
    assert server.times == [0.0, 3.0, 5.0]


def test_429_after_retries_is_a_status_error_with_its_request_id() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> APIStatusError:
        server.replies.extend([Fault(429, {"error": {"message": "slow down"}},
                                     headers={"Retry-After": "1", "x-request-id": "req_9"})] * 2)
        with pytest.raises(APIStatusError) as info:
            await collect(llm, APIConnectOptions(max_retry=1))
        return info.value

    err, server = serve(test)
    assert (err.status_code, err.request_id, err.retry_after) == (429, "req_9", 1.0)
    assert err.retryable
    assert str(err).startswith("openai: rate limited (HTTP 429): slow down")
    assert server.times == [0.0, 1.0]


@pytest.mark.parametrize(("status", "cause"), [(401, "authentication failed"),
                                              (400, "bad request")])
def test_401_and_400_fail_fast_naming_provider_and_cause(status: int, cause: str) -> None:
    wrong = "sk-wrong-key-abcdef"

    async def test(server: OpenAIServer, llm: openai.LLM) -> APIStatusError:
        if status == 400:
            server.replies.append(Fault(400, {"error": {
                "message": "Invalid value for 'tool_choice'", "type": "invalid_request_error"}}))
        with pytest.raises(APIStatusError) as info:
            await collect(llm)
        return info.value

    err, server = serve(test, api_key=wrong if status == 401 else KEY)
    assert err.status_code == status
    assert not err.retryable
    assert len(server.requests("chat")) == 1  # no retry
    assert str(err).startswith(f"openai: {cause} (HTTP {status})")
    if status == 401:
        assert err.request_id == "req_unauthorized"
        assert "Incorrect API key provided: ***." in str(err)  # the echoed key is scrubbed
    for text in (str(err), repr(err), repr(err.body), err.message):
        assert wrong not in text
        assert KEY not in text


def test_closing_the_stream_on_barge_in_closes_the_connection_in_the_same_loop_turn() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> tuple[list[str], float]:
        import asyncio

        server.replies.append(Reply(text="a long answer that will be cut", hang_after=4))
        stream = llm.chat(chat_ctx=_ctx())
        got = [(await anext(stream)).delta for _ in range(2)]
        loop = asyncio.get_running_loop()
        cancelled_at = loop.time()
        await stream.aclose()  # what disposing the reply does
        # the client closes its socket at once; the server's handler is cancelled as soon as
        # its loop reads the close (a few iterations, no time passes)
        assert await iterations_until(lambda: bool(server.closed_at)) <= 5
        assert server.closed_at == [cancelled_at]
        return got, cancelled_at

    (got, _), server = serve(test)
    assert got == ["a ", "long "]


def test_cancelling_the_task_reading_the_stream_closes_the_connection() -> None:
    async def test(server: OpenAIServer, llm: openai.LLM) -> None:
        import asyncio

        server.replies.append(Reply(text="a b c d e", hang_after=3))
        first = asyncio.Event()

        async def read() -> None:
            async for _ in llm.chat(chat_ctx=_ctx()):
                first.set()

        task = asyncio.get_running_loop().create_task(read())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await iterations_until(lambda: bool(server.closed_at)) <= 5

    serve(test)


def test_the_key_never_reaches_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(server: OpenAIServer, llm: openai.LLM) -> list[str]:
        texts = [repr(llm), str(llm), repr(llm._key), str(vars(llm))]
        server.replies.extend([Fault(500, {"error": {"message": f"boom {KEY}"}}),
                               Fault(401, {"error": {"message": f"bad key {KEY}"}})])
        with pytest.raises(APIStatusError) as info:
            await collect(llm)
        texts += [str(info.value), repr(info.value.body)]
        return texts

    texts, _ = serve(test)
    assert "retrying" in caplog.text  # the 500 was retried and logged
    for text in [*texts, caplog.text]:
        assert KEY not in text


def test_a_key_is_required_for_openai_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="openai: no API key: pass api_key= or set "
                                         "OPENAI_API_KEY"):
        openai.LLM()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert KEY not in repr(openai.LLM())
    openai.LLM(base_url="http://localhost:11434/v1")  # a local server needs none
