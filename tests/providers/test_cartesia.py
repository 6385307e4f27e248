"""cartesia.TTS against the local Cartesia server, in virtual time."""

from __future__ import annotations

import asyncio
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
from flowagents.plugins import cartesia
from flowagents.runtime import run_virtual
from flowagents.types import SynthesizedAudio

from .cartesia_server import CartesiaServer, Fault, StreamFault, words_pcm

T = TypeVar("T")
KEY = "sk_car_test_0123"
ONCE = APIConnectOptions(max_retry=0)


def serve(test: Callable[[CartesiaServer, cartesia.TTS], Awaitable[T]], *,
          api_key: str = KEY) -> tuple[T, CartesiaServer]:
    server = CartesiaServer(api_key=KEY)

    async def main() -> T:
        async with server as url:
            tts = cartesia.TTS(base_url=url, api_key=api_key, voice="voice-1")
            try:
                return await test(server, tts)
            finally:
                await tts.aclose()

    return run_virtual(main()), server


async def voice(tts: cartesia.TTS, text: str, options: APIConnectOptions | None = None
                ) -> list[SynthesizedAudio]:
    return [c async for c in tts.synthesize(text, conn_options=options or APIConnectOptions())]


async def collect_into(stream: Any, into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


def pcm_of(chunks: list[SynthesizedAudio]) -> bytes:
    return b"".join(c.frame.data.tobytes() for c in chunks)


def test_synthesize_one_context_with_odd_sized_chunks() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> list[SynthesizedAudio]:
        return await voice(tts, "Hello there, friend.")

    chunks, server = serve(test)
    assert pcm_of(chunks) == words_pcm("Hello there, friend.", 24000)
    assert len(chunks) > 10
    assert chunks[0].text == "Hello there, friend."
    assert [c.is_final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len({c.segment_id for c in chunks}) == 1
    (req,) = server.requests_seen
    assert {k: v for k, v in req.items() if k != "context_id"} == {
        "model_id": "sonic-2", "transcript": "Hello there, friend.",
        "voice": {"mode": "id", "id": "voice-1"}, "language": "en", "continue": False,
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000}}
    headers = server.seen[0][2]
    assert (headers["X-API-Key"], headers["Cartesia-Version"]) == (KEY, cartesia.API_VERSION)
    assert KEY not in server.seen[0][1].values()  # never in the URL


def test_stream_continues_a_context_per_segment() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> list[SynthesizedAudio]:
        stream = tts.stream()
        got: list[SynthesizedAudio] = []
        reader = asyncio.get_running_loop().create_task(collect_into(stream, got))
        for piece in ("Hello ", "there, ", "friend."):
            stream.push_text(piece)
            await asyncio.sleep(0.05)
        stream.flush()
        stream.push_text("How are ")
        stream.push_text("you?")
        stream.end_input()
        await reader
        await stream.aclose()
        return got

    chunks, server = serve(test)
    first, second = list(server.contexts)
    assert server.contexts[first] == ["Hello ", "there, ", "friend.", ""]
    assert server.contexts[second] == ["How are ", "you?", ""]
    assert [r["continue"] for r in server.requests_seen] == [True, True, True, False,
                                                            True, True, False]
    finals = [c.segment_id for c in chunks if c.is_final]
    assert finals == [first, second]
    one = [c for c in chunks if c.segment_id == first]
    assert pcm_of(one) == b"".join(words_pcm(t, 24000) for t in ("Hello ", "there, ",
                                                                  "friend."))
    ids = [c.segment_id for c in chunks]
    assert ids == sorted(ids, key=[first, second].index)  # the segments in order


def test_disconnect_mid_stream_and_before_audio() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> tuple[int, int]:
        server.stream_faults.append(StreamFault(after=3, drop=True))
        heard: list[SynthesizedAudio] = []
        with pytest.raises(APIConnectionError):
            await collect_into(tts.synthesize("one two three"), heard)
        server.stream_faults.append(StreamFault(after=0, drop=True))
        retried = await voice(tts, "one two")
        return len(pcm_of(heard)), len(pcm_of(retried))

    (heard, retried), server = serve(test)
    assert heard == 3002  # three chunks of 1001 bytes: the odd last byte never played
    assert retried == 2 * 4800
    assert len(server.seen) == 3


def test_malformed_frame_and_error_message() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> tuple[APIError, APIError]:
        server.stream_faults.append(StreamFault(after=0, malformed=True))
        with pytest.raises(APIError, match="cartesia: malformed message") as bad:
            await voice(tts, "hi", ONCE)
        server.stream_faults.append(StreamFault(after=0, status=400))
        with pytest.raises(APIStatusError) as error:
            await voice(tts, "hi")
        return bad.value, error.value

    (bad, error), server = serve(test)
    assert isinstance(error, APIStatusError)
    assert (error.status_code, error.retryable) == (400, False)
    assert str(error).startswith("cartesia: bad request (HTTP 400): Invalid model")
    assert len(server.seen) == 2  # a 400 is not retried


def test_slow_first_byte_times_out_and_retries_per_options() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> float:
        server.handshakes.append(Fault(503, delay=30.0))
        server.stream_faults.append(StreamFault(after=0, hang=True))
        with pytest.raises(APITimeoutError):
            await voice(tts, "hi", APIConnectOptions(max_retry=1, timeout=2.0))
        return asyncio.get_running_loop().time()

    failed_at, server = serve(test)
    # a handshake that never answers, then a socket that never speaks: 2 s each
    assert server.times == [0.0, 2.0]
    assert failed_at == pytest.approx(4.0)
    assert server.closed_at == pytest.approx([2.0, 4.0])


def test_429_retry_after_and_401(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(server: CartesiaServer, tts: cartesia.TTS) -> APIStatusError:
        server.handshakes.append(Fault(429, {"error": "rate limited"},
                                       headers={"Retry-After": "3"}))
        assert pcm_of(await voice(tts, "hi")) == words_pcm("hi", 24000)
        bad = cartesia.TTS(base_url=server.url, api_key="sk_car_wrong")
        with pytest.raises(APIStatusError) as info:
            await voice(bad, "hi")
        await bad.aclose()
        return info.value

    err, server = serve(test)
    assert server.times[:2] == [0.0, 3.0]  # the retry waited for Retry-After
    assert (err.status_code, err.retryable) == (401, False)
    assert str(err).startswith("cartesia: authentication failed (HTTP 401)")
    for text in (str(err), repr(err), caplog.text):
        assert "sk_car_wrong" not in text
        assert KEY not in text


def test_barge_in_cancels_the_context_and_closes_the_socket() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> tuple[float, str]:
        stream = tts.stream()
        stream.push_text("a long sentence that the user will interrupt")
        first = await anext(aiter(stream))
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        for _ in range(5):
            await asyncio.sleep(0)
        return at, first.segment_id

    (at, context), server = serve(test)
    assert server.cancelled == [(context, at)]
    assert server.closed_at == [at]


def test_closing_synthesize_early_cancels_its_context_and_keeps_the_socket() -> None:
    async def test(server: CartesiaServer, tts: cartesia.TTS) -> tuple[float, str, list[float]]:
        stream = tts.synthesize("one two three four five")
        first = await anext(stream)
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        for _ in range(5):
            await asyncio.sleep(0)
        closed = list(server.closed_at)
        assert pcm_of(await voice(tts, "next sentence")) == words_pcm("next sentence", 24000)
        return at, first.segment_id, closed

    (at, context, closed), server = serve(test)
    assert server.cancelled == [(context, at)]  # the server stops that context at once
    assert closed == []  # the socket stays open...
    assert len(server.seen) == 1  # ...and the next sentence pays no handshake
    assert KEY not in repr(cartesia.TTS(api_key=KEY))
