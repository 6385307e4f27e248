"""elevenlabs.TTS against the local stream-input server, in virtual time."""

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
from flowagents.plugins import elevenlabs
from flowagents.runtime import run_virtual
from flowagents.types import SynthesizedAudio

from .cartesia_server import words_pcm
from .elevenlabs_server import ElevenLabsServer, Fault, StreamFault

T = TypeVar("T")
KEY = "xi-test-key-0123"


def serve(test: Callable[[ElevenLabsServer, elevenlabs.TTS], Awaitable[T]], *,
          api_key: str = KEY) -> tuple[T, ElevenLabsServer]:
    server = ElevenLabsServer(api_key=KEY)

    async def main() -> T:
        async with server as url:
            tts = elevenlabs.TTS(base_url=url, api_key=api_key, voice_id="voice-9")
            try:
                return await test(server, tts)
            finally:
                await tts.aclose()

    return run_virtual(main()), server


async def voice(tts: elevenlabs.TTS, text: str, options: APIConnectOptions | None = None
                ) -> list[SynthesizedAudio]:
    return [c async for c in tts.synthesize(text, conn_options=options or APIConnectOptions())]


async def collect_into(stream: Any, into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


def pcm_of(chunks: list[SynthesizedAudio]) -> bytes:
    return b"".join(c.frame.data.tobytes() for c in chunks)


def test_synthesize_streams_odd_sized_audio_messages() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        return await voice(tts, "Hello there, friend.")

    chunks, server = serve(test)
    assert pcm_of(chunks) == words_pcm("Hello there, friend.", 24000)
    assert len(chunks) > 10
    assert chunks[0].text == "Hello there, friend."
    assert [c.is_final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    (query,) = server.requests("stream-input")
    assert query == {"model_id": "eleven_flash_v2_5", "output_format": "pcm_24000",
                     "voice_id": "voice-9"}
    assert server.seen[0][2]["xi-api-key"] == KEY
    (messages,) = server.texts
    assert messages[0]["text"] == " "
    assert messages[0]["voice_settings"]["stability"] == 0.5
    assert messages[1:] == [{"text": "Hello there, friend. ", "flush": True}, {"text": ""}]


def test_stream_sends_text_as_it_comes_one_connection_per_segment() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        stream = tts.stream()
        got: list[SynthesizedAudio] = []
        reader = asyncio.get_running_loop().create_task(collect_into(stream, got))
        for piece in ("Hello", "there,", "friend."):
            stream.push_text(piece)
            await asyncio.sleep(0.05)
        stream.flush()
        stream.push_text("How are you?")
        stream.end_input()
        await reader
        await stream.aclose()
        return got

    chunks, server = serve(test)
    first, second = server.texts
    assert [m["text"] for m in first[1:]] == ["Hello ", "there, ", "friend. ", ""]
    assert [m["text"] for m in second[1:]] == ["How are you? ", ""]
    finals = [c.segment_id for c in chunks if c.is_final]
    assert finals == ["segment-1", "segment-2"]
    one = [c for c in chunks if c.segment_id == "segment-1"]
    assert pcm_of(one) == b"".join(words_pcm(t, 24000) for t in ("Hello", "there,", "friend."))


def test_disconnect_mid_stream_and_before_audio() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> tuple[int, int]:
        server.stream_faults.append(StreamFault(after=3, drop=True))
        heard: list[SynthesizedAudio] = []
        with pytest.raises(APIConnectionError):
            await collect_into(tts.synthesize("one two three"), heard)
        server.stream_faults.append(StreamFault(after=0, drop=True))
        retried = await voice(tts, "one two")
        return len(pcm_of(heard)), len(pcm_of(retried))

    (heard, retried), server = serve(test)
    assert heard == 3002
    assert retried == 2 * 4800
    assert len(server.seen) == 3


def test_malformed_frame_and_error_message() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> APIStatusError:
        server.stream_faults.append(StreamFault(after=0, malformed=True))
        with pytest.raises(APIError, match="elevenlabs: malformed message"):
            await voice(tts, "hi", APIConnectOptions(max_retry=0))
        server.stream_faults.append(StreamFault(after=0, error="invalid_api_key"))
        with pytest.raises(APIStatusError) as info:
            await voice(tts, "hi")
        return info.value

    err, server = serve(test)
    assert (err.status_code, err.retryable) == (401, False)
    assert str(err).startswith("elevenlabs: authentication failed (HTTP 401): invalid_api_key")
    assert len(server.seen) == 2


def test_slow_first_byte_times_out_and_retries_per_options() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> float:
        server.handshakes.append(Fault(503, delay=30.0))
        server.stream_faults.append(StreamFault(after=0, hang=True))
        with pytest.raises(APITimeoutError):
            await voice(tts, "hi", APIConnectOptions(max_retry=1, timeout=2.0))
        return asyncio.get_running_loop().time()

    failed_at, server = serve(test)
    assert server.times == [0.0, 2.0]
    assert failed_at == pytest.approx(4.0)
    assert server.closed_at == pytest.approx([2.0, 4.0])


def test_429_retry_after_and_401(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> APIStatusError:
        server.handshakes.append(Fault(429, {"detail": "busy"}, headers={"Retry-After": "3"}))
        assert pcm_of(await voice(tts, "hi")) == words_pcm("hi", 24000)
        bad = elevenlabs.TTS(base_url=server.url, api_key="xi-wrong")
        with pytest.raises(APIStatusError) as info:
            await voice(bad, "hi")
        await bad.aclose()
        return info.value

    err, server = serve(test)
    assert server.times[:2] == [0.0, 3.0]
    assert (err.status_code, err.retryable) == (401, False)
    assert str(err).startswith("elevenlabs: authentication failed (HTTP 401)")
    for text in (str(err), repr(err), caplog.text):
        assert "xi-wrong" not in text
        assert KEY not in text


def test_barge_in_closes_the_socket() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> float:
        stream = tts.stream()
        stream.push_text("a long sentence that the user will interrupt")
        await anext(aiter(stream))
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        for _ in range(5):
            await asyncio.sleep(0)
        return at

    at, server = serve(test)
    assert server.closed_at == [at]
    assert KEY not in repr(elevenlabs.TTS(api_key=KEY))


def test_voice_is_an_alias_of_voice_id() -> None:
    assert elevenlabs.TTS(api_key=KEY, voice="v-2").voice_id == "v-2"
    assert elevenlabs.TTS(api_key=KEY, voice_id="v-3").voice_id == "v-3"
