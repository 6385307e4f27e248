"""openai.STT and openai.TTS against the local OpenAI server, in virtual time.

STT is called as the STT node calls it (``call_with_retry`` around one ``recognize``); TTS
retries inside ``synthesize`` until its first chunk, as the LLM does.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest
import soundfile

from flowagents.errors import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
)
from flowagents.plugins import openai
from flowagents.retry import call_with_retry
from flowagents.runtime import run_virtual
from flowagents.types import AudioFrame, SpeechEvent, SynthesizedAudio

from .base import Fault
from .openai_server import OpenAIServer, tone

T = TypeVar("T")
KEY = "sk-test-0123456789"


def serve(test: Callable[[OpenAIServer, str], Awaitable[T]]) -> tuple[T, OpenAIServer]:
    server = OpenAIServer(api_key=KEY, transcript="  What time is it?  ")

    async def main() -> T:
        async with server as url:
            return await test(server, url)

    return run_virtual(main()), server


def _frames() -> list[AudioFrame]:
    """0.5 s at 16 kHz in frames of odd, uneven sizes."""
    rng = np.random.default_rng(3)
    sizes = [317, 1601, 3, 2999, 1080]
    return [AudioFrame(rng.integers(-3000, 3000, n).astype(np.int16), 16000,
                       timestamp=1.0 + sum(sizes[:i]) / 16000) for i, n in enumerate(sizes)]


async def _recognize(stt: openai.STT, options: APIConnectOptions | None = None
                     ) -> SpeechEvent:
    frames = _frames()
    return await call_with_retry(lambda: stt.recognize(frames),
                                 conn_options=options or APIConnectOptions(), label=stt.label)


# ---- STT ---------------------------------------------------------------------------------------


def test_stt_sends_the_segment_as_wav_and_returns_a_final_transcript() -> None:
    async def test(server: OpenAIServer, url: str) -> tuple[SpeechEvent, bytes]:
        stt = openai.STT(base_url=url, api_key=KEY, model="whisper-1", prompt="times")
        sent: list[bytes] = []
        original = openai.stt.wav_bytes

        def spy(frames: Any) -> bytes:
            sent.append(original(frames))
            return sent[-1]

        openai.stt.wav_bytes = spy
        try:
            event = await _recognize(stt)
        finally:
            openai.stt.wav_bytes = original
            await stt.aclose()
        return event, sent[0]

    (event, wav), server = serve(test)
    assert event.is_final
    assert event.text == "What time is it?"
    assert event.request_id.startswith("req_")
    data = event.alternatives[0]
    assert (data.language, data.start_time) == ("en", 1.0)
    assert data.end_time == pytest.approx(1.0 + 6000 / 16000)
    (fields,) = server.requests("transcriptions")
    assert fields == {"model": "whisper-1", "response_format": "json", "language": "en",
                      "prompt": "times", "file_bytes": len(wav)}
    pcm, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert rate == 16000
    assert np.array_equal(pcm, np.concatenate([f.data for f in _frames()]))


@pytest.mark.parametrize(("fault", "error", "requests"), [
    (Fault(200, disconnect_after=5), APIConnectionError, 2),  # dropped mid-answer: retried
    (Fault(200, hang_after=0, delay=0.0), APITimeoutError, 2),  # silent: timed out, retried
])
def test_stt_broken_answers_are_retried_by_the_caller(fault: Fault, error: type[Exception],
                                                      requests: int) -> None:
    async def test(server: OpenAIServer, url: str) -> None:
        stt = openai.STT(base_url=url, api_key=KEY)
        server.transcripts.extend([fault, fault])
        with pytest.raises(error):
            await _recognize(stt, APIConnectOptions(max_retry=1, timeout=2.0))
        await stt.aclose()

    _, server = serve(test)
    assert len(server.requests("transcriptions")) == requests


def test_stt_malformed_answer() -> None:
    async def test(server: OpenAIServer, url: str) -> APIError:
        stt = openai.STT(base_url=url, api_key=KEY)
        server.transcripts.append(Fault(200, payload=b"<html>proxy error</html>",
                                        content_type="text/html"))
        with pytest.raises(APIError, match="malformed transcription") as info:
            await stt.recognize(_frames())
        await stt.aclose()
        return info.value

    serve(test)


def test_stt_slow_first_byte_times_out_then_succeeds() -> None:
    async def test(server: OpenAIServer, url: str) -> tuple[str, float]:
        stt = openai.STT(base_url=url, api_key=KEY)
        server.transcripts.append(Fault(500, delay=60.0))
        event = await _recognize(stt, APIConnectOptions(max_retry=1, timeout=3.0))
        await stt.aclose()
        return event.text, asyncio.get_running_loop().time()

    (text, done_at), server = serve(test)
    assert text == "What time is it?"
    assert server.times == [0.0, 3.0]
    assert done_at == pytest.approx(3.0)
    assert server.closed_at == pytest.approx([3.0])


def test_stt_429_retry_after_and_401_fails_fast() -> None:
    async def test(server: OpenAIServer, url: str) -> APIStatusError:
        stt = openai.STT(base_url=url, api_key=KEY)
        server.transcripts.append(Fault(429, {"error": {"message": "busy"}},
                                        headers={"Retry-After": "4"}))
        assert (await _recognize(stt)).text == "What time is it?"
        bad = openai.STT(base_url=url, api_key="sk-bad-000")
        with pytest.raises(APIStatusError) as info:
            await _recognize(bad)
        await stt.aclose()
        await bad.aclose()
        return info.value

    err, server = serve(test)
    assert server.times == [0.0, 4.0, 4.0]
    assert err.status_code == 401
    assert str(err).startswith("openai: authentication failed (HTTP 401)")
    assert "sk-bad-000" not in str(err)


def test_stt_cancelled_call_closes_the_request() -> None:
    async def test(server: OpenAIServer, url: str) -> float:
        stt = openai.STT(base_url=url, api_key=KEY)
        server.transcripts.append(Fault(500, delay=60.0))
        task = asyncio.get_running_loop().create_task(stt.recognize(_frames()))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(5):
            await asyncio.sleep(0)
        await stt.aclose()
        return asyncio.get_running_loop().time()

    now, server = serve(test)
    assert server.closed_at == [pytest.approx(1.0)]


# ---- TTS ---------------------------------------------------------------------------------------


async def _voice(tts: openai.TTS, text: str, options: APIConnectOptions | None = None
                 ) -> list[SynthesizedAudio]:
    return [c async for c in tts.synthesize(text, conn_options=options or APIConnectOptions())]


def test_tts_streams_pcm_split_at_odd_bytes_into_whole_samples() -> None:
    async def test(server: OpenAIServer, url: str) -> list[SynthesizedAudio]:
        tts = openai.TTS(base_url=url, api_key=KEY, voice="alloy", speed=1.25)
        server.speech.append(Fault(200, chunk=777))  # 777-byte writes: samples cut in two
        chunks = await _voice(tts, "Hello there, friend.")
        await tts.aclose()
        return chunks

    chunks, server = serve(test)
    expected = np.frombuffer(tone(server, "Hello there, friend."), dtype="<i2")
    got = np.concatenate([c.frame.data for c in chunks])
    assert np.array_equal(got, expected)
    assert len(chunks) > 10
    assert all(c.frame.sample_rate == 24000 for c in chunks)
    assert [c.is_final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len(chunks[-1].frame.data) == 0  # the end marker
    assert chunks[0].text == "Hello there, friend."
    (body,) = server.requests("speech")
    assert body == {"model": "gpt-4o-mini-tts", "input": "Hello there, friend.",
                    "voice": "alloy", "response_format": "pcm", "speed": 1.25}


def test_tts_disconnect_mid_stream_and_before_audio() -> None:
    async def test(server: OpenAIServer, url: str) -> tuple[int, int]:
        tts = openai.TTS(base_url=url, api_key=KEY)
        server.speech.extend([Fault(200, chunk=1000, disconnect_after=4001)])
        heard: list[SynthesizedAudio] = []
        with pytest.raises(APIConnectionError):
            await _collect_into(tts.synthesize("one two three"), heard)
        server.speech.extend([Fault(200, disconnect_after=0), None])
        retried = await _voice(tts, "one two")
        await tts.aclose()
        return sum(len(c.frame.data) for c in heard), sum(len(c.frame.data) for c in retried)

    (heard, retried), server = serve(test)
    assert heard == 2000  # whole samples of the 4001 bytes, none repeated
    assert retried == 2 * 2400
    assert len(server.requests("speech")) == 3


async def _collect_into(stream: Any, into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


def test_tts_malformed_replies() -> None:
    async def test(server: OpenAIServer, url: str) -> list[str]:
        tts = openai.TTS(base_url=url, api_key=KEY)
        once = APIConnectOptions(max_retry=0)
        server.speech.extend([
            Fault(200, payload=b'{"error": "not audio"}', content_type="application/json"),
            Fault(200, payload=b"\x01\x02\x03")])  # ends mid-sample
        messages = []
        for _ in range(2):
            with pytest.raises(APIError) as info:
                await _voice(tts, "hi", once)
            messages.append(info.value.message)
        await tts.aclose()
        return messages

    messages, _ = serve(test)
    assert messages == ["openai: malformed speech reply (application/json, not PCM)",
                        "openai: malformed speech reply (ends mid-sample)"]


def test_tts_slow_first_byte_429_and_401() -> None:
    async def test(server: OpenAIServer, url: str) -> APIStatusError:
        tts = openai.TTS(base_url=url, api_key=KEY)
        server.speech.extend([Fault(200, delay=30.0), Fault(200, delay=30.0)])
        with pytest.raises(APITimeoutError):
            await _voice(tts, "hi", APIConnectOptions(max_retry=1, timeout=2.0))
        server.speech.append(Fault(429, headers={"Retry-After": "2.5"}))
        assert len(await _voice(tts, "hi")) >= 1
        bad = openai.TTS(base_url=url, api_key="sk-nope-123")
        with pytest.raises(APIStatusError) as info:
            await _voice(bad, "hi")
        await tts.aclose()
        await bad.aclose()
        return info.value

    err, server = serve(test)
    assert server.times == [0.0, 2.0, 4.0, 6.5, 6.5]
    assert server.closed_at == pytest.approx([2.0, 4.0])
    assert (err.status_code, err.retryable) == (401, False)
    assert "sk-nope-123" not in str(err)


def test_tts_closing_on_barge_in_closes_the_stream() -> None:
    async def test(server: OpenAIServer, url: str) -> float:
        tts = openai.TTS(base_url=url, api_key=KEY)
        server.speech.append(Fault(200, chunk=480, hang_after=4800))
        stream = tts.synthesize("a long sentence that will be interrupted")
        await anext(stream)
        await anext(stream)
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        for _ in range(5):
            await asyncio.sleep(0)
        await tts.aclose()
        return at

    at, server = serve(test)
    assert server.closed_at == [at]


def test_audio_providers_keep_the_key_out_of_logs_and_reprs(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(server: OpenAIServer, url: str) -> list[str]:
        stt = openai.STT(base_url=url, api_key=KEY)
        tts = openai.TTS(base_url=url, api_key=KEY)
        server.speech.append(Fault(503, {"error": {"message": f"down {KEY}"}}))
        await _voice(tts, "hi")
        texts = [repr(stt), repr(tts), str(vars(stt)), str(vars(tts))]
        await stt.aclose()
        await tts.aclose()
        return texts

    texts, _ = serve(test)
    assert "retrying" in caplog.text
    for text in [*texts, caplog.text]:
        assert KEY not in text
