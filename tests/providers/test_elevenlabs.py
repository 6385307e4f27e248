"""elevenlabs.TTS against the local multi-stream-input server, in virtual time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
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
LONG = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"


def serve(test: Callable[[ElevenLabsServer, elevenlabs.TTS], Awaitable[T]], *,
          server: ElevenLabsServer | None = None, **options: Any) -> tuple[T, ElevenLabsServer]:
    server = server or ElevenLabsServer(api_key=KEY)

    async def main() -> T:
        async with server as url:
            tts = elevenlabs.TTS(base_url=url, api_key=KEY, voice_id="voice-9", **options)
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


async def speak(tts: elevenlabs.TTS, *segments: str) -> list[SynthesizedAudio]:
    """One reply through a stream: each segment pushed word by word, then flushed."""
    stream = tts.stream()
    got: list[SynthesizedAudio] = []
    reader = asyncio.get_running_loop().create_task(collect_into(stream, got))
    for segment in segments:
        for word in segment.split():
            stream.push_text(word)
        stream.flush()
    stream.end_input()
    await reader
    await stream.aclose()
    return got


def pcm_of(chunks: list[SynthesizedAudio]) -> bytes:
    return b"".join(c.frame.data.tobytes() for c in chunks)


def tone(text: str) -> np.ndarray[Any, Any]:
    """What the server voices for ``text``: 0.1 s of tone per word."""
    return np.frombuffer(words_pcm(text, 24000), dtype="<i2")


def same_audio(chunks: list[SynthesizedAudio], text: str) -> bool:
    """The chunks voice ``text`` (to the last bit but one: the server restarts its sine at each
    generation, and a sine of a larger time rounds differently)."""
    got, want = np.frombuffer(pcm_of(chunks), dtype="<i2"), tone(text)
    return len(got) == len(want) and int(np.abs(got.astype(int) - want).max(initial=0)) <= 1


def segments_of(chunks: list[SynthesizedAudio]) -> list[str]:
    """The segment ids in the order their audio came, each once."""
    return list(dict.fromkeys(c.segment_id for c in chunks))


def test_synthesize_streams_odd_sized_audio_messages() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        return await voice(tts, "Hello there, friend.")

    chunks, server = serve(test)
    assert pcm_of(chunks) == words_pcm("Hello there, friend.", 24000)
    assert len(chunks) > 10
    assert chunks[0].text == "Hello there, friend."
    assert [c.is_final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    (query,) = server.requests("multi-stream-input")
    assert query == {"model_id": "eleven_flash_v2_5", "output_format": "pcm_24000",
                     "inactivity_timeout": "180", "voice_id": "voice-9"}
    assert server.seen[0][2]["xi-api-key"] == KEY
    (context,) = server.contexts
    assert {c.segment_id for c in chunks} == {context}
    opening, *rest = server.sockets[0]
    assert opening["text"] == " "
    assert opening["context_id"] == context
    assert opening["voice_settings"]["stability"] == 0.5
    assert opening["generation_config"] == {"chunk_length_schedule": [80, 120, 200, 260]}
    assert rest == [{"text": "Hello there, friend. ", "context_id": context, "flush": True},
                    {"context_id": context, "close_context": True},
                    {"close_socket": True}]  # the last from tts.aclose()
    assert server.closed_at == []


def test_stream_sends_text_as_it_comes_a_context_per_segment() -> None:
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
    first, second = server.contexts
    assert server.contexts[first] == ["Hello ", "there, ", "friend. "]
    assert server.contexts[second] == ["How are you? "]
    (messages,) = server.sockets
    assert [m for m in messages if m.get("context_id") == first][1:] == [
        {"text": "Hello ", "context_id": first}, {"text": "there, ", "context_id": first},
        {"text": "friend. ", "context_id": first},
        {"text": "", "context_id": first, "flush": True},
        {"context_id": first, "close_context": True}]
    finals = [c.segment_id for c in chunks if c.is_final]
    assert finals == [first, second]
    assert segments_of(chunks) == [first, second]
    one = [c for c in chunks if c.segment_id == first]
    assert pcm_of(one) == words_pcm("Hello there, friend.", 24000)
    assert pcm_of([c for c in chunks if c.segment_id == second]) == words_pcm("How are you?",
                                                                             24000)
    assert len(server.requests("multi-stream-input")) == 1


def test_a_reply_and_the_next_share_one_connection() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> tuple[list[SynthesizedAudio], list[SynthesizedAudio], int]:
        first = await speak(tts, "Hello there.", "The weather is fine.", "Goodbye now.")
        await asyncio.sleep(5.0)  # the user speaks
        second = await speak(tts, "Sure.", "It is sunny in Tokyo.")
        handshakes = len(server.requests("multi-stream-input"))
        for sentence in ("One more.", "And another."):  # the session voices by synthesize
            await voice(tts, sentence)
        return first, second, handshakes

    (first, second, after_two), server = serve(test)
    assert after_two == 1
    assert len(server.requests("multi-stream-input")) == 1
    assert len(server.happened("open")) == 7
    assert same_audio(first, "Hello there. The weather is fine. Goodbye now.")
    assert len(segments_of(first)) == 3
    assert same_audio(second, "Sure. It is sunny in Tokyo.")
    assert len(server.happened("final")) == 7


def test_segments_voiced_in_order_while_interleaved_on_the_wire() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        return await speak(tts, LONG, "Short one.")

    chunks, server = serve(test)
    first, second = server.contexts
    opened = dict((c, t) for t, c in server.happened("open"))
    finished = dict((c, t) for t, c in server.happened("final"))
    assert opened[second] < finished[first]  # the next segment was generating already
    assert segments_of(chunks) == [first, second]
    assert same_audio([c for c in chunks if c.segment_id == first], LONG)
    assert pcm_of([c for c in chunks if c.segment_id == second]) == words_pcm("Short one.",
                                                                             24000)


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


def test_a_dropped_socket_fails_the_open_stream_and_the_next_reconnects() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> tuple[list[SynthesizedAudio], BaseException, list[SynthesizedAudio]]:
        server.stream_faults.append(StreamFault(after=5, drop=True))
        stream = tts.stream()
        got: list[SynthesizedAudio] = []
        for word in LONG.split():
            stream.push_text(word)
        stream.flush()
        with pytest.raises(APIConnectionError) as info:
            await collect_into(stream, got)
        await stream.aclose()
        return got, info.value, await speak(tts, "Still here.")

    (got, error, after), server = serve(test)
    assert str(error) == "elevenlabs: the connection closed before the audio was final"
    assert len(pcm_of(got)) == 5004  # five messages of 1001 bytes, whole samples only
    assert not any(c.is_final for c in got)
    assert pcm_of(after) == words_pcm("Still here.", 24000)
    assert len(server.requests("multi-stream-input")) == 2


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
    assert all(KEY not in str(value) for value in server.requests("multi-stream-input")[0])


def test_barge_in_closes_the_context_and_keeps_the_socket() -> None:
    server = ElevenLabsServer(api_key=KEY, linger=3)

    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> tuple[float, list[SynthesizedAudio]]:
        stream = tts.stream()
        for word in LONG.split():  # 81 characters: the schedule's first 80 start the voicing
            stream.push_text(word)
        stream.push_text("and")  # more text coming: the segment is not flushed
        await anext(aiter(stream))
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        return at, await speak(tts, "Yes?")

    (at, after), server = serve(test, server=server)
    interrupted, answer = server.contexts
    assert server.happened("close_context")[0] == (at, interrupted)
    assert server.happened("stopped") == [(at, interrupted)]
    assert (at, "flush", interrupted) not in server.events
    # it stopped at once: the messages sent before the close and the three in flight
    sent = round(at / 0.01) + 1  # one at once, then one each 10 ms
    assert server.audio_bytes[interrupted] == (sent + 3) * 1001
    assert server.audio_bytes[interrupted] < len(words_pcm(LONG, 24000))
    # the socket stays for the next reply, whose audio is its own
    assert len(server.requests("multi-stream-input")) == 1
    assert server.closed_at == []
    assert pcm_of(after) == words_pcm("Yes?", 24000)
    assert segments_of(after) == [answer]
    assert KEY not in repr(elevenlabs.TTS(api_key=KEY))


def test_barge_in_on_synthesize_drops_the_rest_of_its_audio() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> tuple[int, list[SynthesizedAudio]]:
        speech = tts.synthesize(LONG)
        first = await anext(speech)
        await speech.aclose()  # type: ignore[attr-defined]
        # the service goes on flushing the closed context while the next sentence is voiced
        answer = await voice(tts, "Next sentence here.")
        await asyncio.sleep(1.0)
        return len(first.frame.data), answer

    (samples, after), server = serve(test)
    interrupted, answer = server.contexts
    assert samples == 500
    # closed with its text: the barge-in has nothing more to tell the service
    assert [c for t, c in server.happened("close_context")].count(interrupted) == 1
    assert server.audio_bytes[interrupted] == len(words_pcm(LONG, 24000))
    finals = dict((c, t) for t, c in server.happened("final"))
    first_audio_of_answer = min(t for t, w, c in server.events if c == answer)
    assert finals[interrupted] > first_audio_of_answer  # the two were interleaved
    assert pcm_of(after) == words_pcm("Next sentence here.", 24000)
    assert segments_of(after) == [answer]
    assert len(server.requests("multi-stream-input")) == 1


def test_keep_alive_holds_a_waiting_context_past_the_inactivity_timeout() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        stream = tts.stream()
        got: list[SynthesizedAudio] = []
        reader = asyncio.get_running_loop().create_task(collect_into(stream, got))
        stream.push_text("Let me")
        await asyncio.sleep(45.0)  # a slow tool call in the middle of a sentence
        stream.push_text("check.")
        stream.end_input()
        await reader
        await stream.aclose()
        return got

    chunks, server = serve(test, inactivity_timeout=20)
    (context,) = server.contexts
    assert [t for t, _ in server.happened("keep_alive")] == pytest.approx([10, 20, 30, 40])
    assert pcm_of(chunks) == words_pcm("Let me check.", 24000)
    assert server.happened("input_timeout_exceeded") == []
    assert server.requests("multi-stream-input")[0]["inactivity_timeout"] == "20"


def test_an_idle_socket_the_service_closed_is_reopened() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        await voice(tts, "Hello.")
        await asyncio.sleep(60.0)  # the service closes the idle socket after 20 s
        return await voice(tts, "Still there?", APIConnectOptions(max_retry=0))

    chunks, server = serve(test, inactivity_timeout=20)
    (timed_out, _), = server.happened("input_timeout_exceeded")
    assert timed_out == 20.0  # the last message it got came at once
    assert pcm_of(chunks) == words_pcm("Still there?", 24000)
    assert server.times == pytest.approx([0.0, 60.05])  # "Hello." took five messages


@pytest.mark.parametrize(("context_key", "final_key"),
                         [("contextId", "isFinal"), ("context_id", "is_final"),
                          ("contextId", "is_final"), ("context_id", "isFinal")])
def test_both_spellings_of_the_context_and_final_fields(context_key: str, final_key: str
                                                        ) -> None:
    server = ElevenLabsServer(api_key=KEY, context_key=context_key, final_key=final_key)

    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> list[SynthesizedAudio]:
        return [*await voice(tts, "Hi there."), *await speak(tts, "Bye.", "Now.")]

    chunks, server = serve(test, server=server)
    assert same_audio(chunks, "Hi there. Bye. Now.")
    assert sum(c.is_final for c in chunks) == 3


def test_voice_is_an_alias_of_voice_id() -> None:
    assert elevenlabs.TTS(api_key=KEY, voice="v-2").voice_id == "v-2"
    assert elevenlabs.TTS(api_key=KEY, voice_id="v-3").voice_id == "v-3"
    with pytest.raises(ValueError, match="inactivity_timeout"):
        elevenlabs.TTS(api_key=KEY, inactivity_timeout=300)


def test_an_error_naming_a_context_fails_only_that_one() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> tuple[APIStatusError, list[SynthesizedAudio]]:
        server.stream_faults.append(StreamFault(after=2, error="voice_not_found",
                                                in_context=True))
        with pytest.raises(APIStatusError) as info:
            await voice(tts, "one two three")
        return info.value, await voice(tts, "Still fine.")

    (err, after), server = serve(test)
    assert (err.status_code, err.retryable) == (404, False)
    assert str(err).startswith("elevenlabs: not found")
    assert pcm_of(after) == words_pcm("Still fine.", 24000)
    assert len(server.requests("multi-stream-input")) == 1  # the socket stayed


def test_no_more_than_five_contexts_open_on_the_socket() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> list[list[SynthesizedAudio]]:
        sentences = [f"Sentence number {n} here." for n in range(8)]
        return list(await asyncio.gather(*(voice(tts, s) for s in sentences)))

    spoken, server = serve(test)
    assert [pcm_of(s) == words_pcm(f"Sentence number {n} here.", 24000)
            for n, s in enumerate(spoken)] == [True] * 8
    assert server.most_open == 5
    assert server.happened("max_active_conversations") == []
    assert len(server.requests("multi-stream-input")) == 1


def test_a_context_stopped_without_a_final_message_frees_its_place_after_a_grace() -> None:
    server = ElevenLabsServer(api_key=KEY, final_on_stop=False)

    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS
                   ) -> tuple[float, list[SynthesizedAudio]]:
        for _ in range(5):  # five barge-ins in a row, each in the middle of a sentence
            stream = tts.stream()
            for word in LONG.split():
                stream.push_text(word)
            await anext(aiter(stream))
            await stream.aclose()
        at = asyncio.get_running_loop().time()
        return at, await voice(tts, "Hello again.")

    (at, after), server = serve(test, server=server)
    assert len(server.happened("stopped")) == 5
    assert server.happened("final")[0][0] == pytest.approx(at + 2.0 + 0.1, abs=0.02)
    assert pcm_of(after) == words_pcm("Hello again.", 24000)
    assert server.happened("max_active_conversations") == []


def test_barge_in_closes_each_open_context_once() -> None:
    async def test(server: ElevenLabsServer, tts: elevenlabs.TTS) -> float:
        stream = tts.stream()
        stream.push_text("Hello there.")
        stream.flush()  # the first sentence is complete: closed as it ends
        stream.push_text(LONG)  # the second is under way
        got: list[SynthesizedAudio] = []
        async for chunk in stream:
            got.append(chunk)
            if chunk.is_final:
                break
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        await asyncio.sleep(1.0)
        return at

    at, server = serve(test)
    first, second = server.contexts
    closes = server.happened("close_context")
    assert [c for _, c in closes] == [first, second]
    assert closes[1] == (at, second)
    assert server.happened("stopped") == [(at, second)]
    assert len(server.happened("final")) == 2
