"""deepgram.STT against the local Deepgram server, in virtual time.

The server hears loud audio as speech ("hello world" unless scripted), so each test pushes a
pattern of silence and tone in frames of odd sizes and checks the events, their times on the
session clock, and what the server received.
"""

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
from flowagents.plugins import deepgram
from flowagents.runtime import run_virtual
from flowagents.types import AudioFrame, SpeechEvent, SpeechEventType

from .deepgram_server import DeepgramServer, Fault, StreamFault

T = TypeVar("T")
KEY = "dg-test-key-0123"
RATE = 16000
START, INTERIM, FINAL, END = (SpeechEventType.START_OF_SPEECH,
                              SpeechEventType.INTERIM_TRANSCRIPT,
                              SpeechEventType.FINAL_TRANSCRIPT, SpeechEventType.END_OF_SPEECH)


def serve(test: Callable[[DeepgramServer, deepgram.STT], Awaitable[T]], *,
          api_key: str = KEY, **options: Any) -> tuple[T, DeepgramServer]:
    server = DeepgramServer(api_key=KEY)

    async def main() -> T:
        async with server as url:
            stt = deepgram.STT(base_url=url, api_key=api_key, endpointing_ms=300, **options)
            try:
                return await test(server, stt)
            finally:
                await stt.aclose()

    return run_virtual(main()), server


def frames(pattern: list[tuple[float, bool]], start: float = 10.0,
           size: int = 137) -> list[AudioFrame]:
    """Frames of ``size`` samples: (seconds, loud) spans one after the other from ``start``."""
    pcm = np.concatenate([np.full(round(s * RATE), 3000 if loud else 0, dtype=np.int16)
                          for s, loud in pattern])
    return [AudioFrame(pcm[i:i + size], RATE, timestamp=start + i / RATE)
            for i in range(0, len(pcm), size)]


async def feed(stream: deepgram.SpeechStream, audio: list[AudioFrame], *,
               end: bool = True, pace: bool = False) -> None:
    for frame in audio:
        stream.push_frame(frame)
        if pace:
            await asyncio.sleep(frame.duration)
        else:
            await asyncio.sleep(0)
    if end:
        stream.end_input()


async def events_of(stream: deepgram.SpeechStream, into: list[SpeechEvent] | None = None
                    ) -> list[SpeechEvent]:
    out = into if into is not None else []
    async for event in stream:
        out.append(event)
    return out


def summary(events: list[SpeechEvent]) -> list[tuple[SpeechEventType, str, float]]:
    return [(e.type, e.text, round(e.timestamp, 4)) for e in events]


def test_streamed_recognition_events_times_and_query() -> None:
    audio = frames([(0.2, False), (1.0, True), (0.5, False)])

    async def test(server: DeepgramServer, stt: deepgram.STT) -> list[SpeechEvent]:
        stream = stt.stream()
        reader = asyncio.get_running_loop().create_task(events_of(stream))
        await feed(stream, audio)
        events = await reader
        await stream.aclose()
        return events

    events, server = serve(test, keyterms=["flowagents"])
    # speech starts 0.2 s in (10.2 on the session clock); interims every 0.3 s of speech;
    # the final after 0.3 s of silence (frames of 137 samples: times fall on frame ends)
    assert [(t, x) for t, x, _ in summary(events)] == [
        (START, ""), (INTERIM, "hello"), (INTERIM, "hello world"), (FINAL, "hello world"),
        (END, "")]
    assert summary(events)[0][2] == pytest.approx(10.2, abs=137 / RATE)
    final = events[3]
    assert final.alternatives[0].start_time == pytest.approx(10.2, abs=137 / RATE)
    assert final.timestamp == pytest.approx(11.5, abs=2 * 137 / RATE)  # frame ends
    assert final.request_id
    (query,) = server.requests("listen")
    assert {k: query[k] for k in ("model", "language", "encoding", "sample_rate", "channels",
                                  "interim_results", "vad_events", "endpointing",
                                  "utterance_end_ms", "keyterm")} == {
        "model": "nova-3", "language": "en-US", "encoding": "linear16", "sample_rate": "16000",
        "channels": "1", "interim_results": "true", "vad_events": "true", "endpointing": "300",
        "utterance_end_ms": "1000", "keyterm": "flowagents"}
    assert server.seen[0][2]["Authorization"] == f"Token {KEY}"
    sent = b"".join(d for kind, d in server.received if kind == "audio")
    assert sent == b"".join(f.data.tobytes() for f in audio)  # every odd-sized frame, in order
    assert server.received[-1] == ("control", {"type": "CloseStream"})


def test_keepalive_while_idle_and_finalize_on_flush() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> list[SpeechEvent]:
        server.utterances.append("what time is it")
        stream = stt.stream()
        got: list[SpeechEvent] = []
        reader = asyncio.get_running_loop().create_task(events_of(stream, got))
        await feed(stream, frames([(0.1, False)]), end=False)
        await asyncio.sleep(12.0)  # idle: KeepAlive at 5 s and 10 s
        await feed(stream, frames([(0.4, True)], start=12.1), end=False)
        stream.flush()  # Finalize: the words so far become final at once
        await asyncio.sleep(0.1)
        stream.end_input()
        await reader
        await stream.aclose()
        return got

    events, server = serve(test, interim_results=False)
    controls = [m["type"] for kind, m in server.received if kind == "control"]
    assert controls == ["KeepAlive", "KeepAlive", "Finalize", "CloseStream"]
    assert [(e.type, e.text) for e in events] == [(START, ""), (FINAL, "what time is it")]


def test_a_connection_that_breaks_is_replaced_and_the_next_utterance_heard() -> None:
    """The server drops the connection after two messages (SpeechStarted and the first
    interim) of a 1 s utterance from 10.0 s. The stream ends that speech where the audio had got
    to, reconnects with the audio that follows (the rest of the tone, heard as a new utterance
    on the new connection: "second try"), and the next tone (from 11.5 s) is recognized too,
    every time on the session clock."""
    async def test(server: DeepgramServer, stt: deepgram.STT) -> list[SpeechEvent]:
        server.stream_faults.append(StreamFault(after=2, drop=True))
        server.utterances.extend(["lost words", "second try"])
        stream = stt.stream()
        got: list[SpeechEvent] = []
        reader = asyncio.get_running_loop().create_task(events_of(stream, got))
        await feed(stream, frames([(1.0, True), (0.5, False)]), end=False, pace=True)
        await feed(stream, frames([(0.5, True), (0.5, False)], start=11.5), pace=True)
        await reader
        await stream.aclose()
        return got

    events, server = serve(test)
    assert [(e.type, e.text) for e in events] == [
        (START, ""), (INTERIM, "lost"), (END, ""),  # the break ends the speech in flight
        (START, ""), (INTERIM, "second"), (INTERIM, "second try"), (FINAL, "second try"),
        (END, ""),
        (START, ""), (INTERIM, "hello"), (INTERIM, "hello world"), (FINAL, "hello world"),
        (END, "")]
    assert len(server.requests("listen")) == 2
    broke_at = events[2].timestamp
    assert 10.3 < broke_at < 11.0
    assert events[3].timestamp == broke_at  # the new connection's clock starts there
    assert events[8].timestamp == pytest.approx(11.5)


def test_a_connection_that_keeps_breaking_ends_the_stream_after_max_retry() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> list[SpeechEvent]:
        server.stream_faults.extend([StreamFault(after=0, drop=True)] * 3)
        stream = stt.stream(conn_options=APIConnectOptions(max_retry=1, retry_interval=0.0))
        got: list[SpeechEvent] = []
        reader = asyncio.get_running_loop().create_task(events_of(stream, got))
        await feed(stream, frames([(2.0, True)]), end=False, pace=True)
        with pytest.raises(APIConnectionError, match="deepgram: the connection closed"):
            await reader
        await stream.aclose()
        return got

    events, server = serve(test)
    assert events == []
    assert len(server.requests("listen")) == 2  # the first connection and one replacement


def test_malformed_message_is_a_typed_error() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> APIError:
        server.stream_faults.append(StreamFault(after=1, malformed=True))
        stream = stt.stream()
        reader = asyncio.get_running_loop().create_task(events_of(stream))
        await feed(stream, frames([(1.0, True)]), end=False)
        with pytest.raises(APIError, match="deepgram: malformed message") as info:
            await reader
        await stream.aclose()
        return info.value

    err, _ = serve(test)
    assert "alternat" in err.body


def test_slow_handshake_times_out_and_retries_per_options() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> float:
        server.handshakes.extend([Fault(503, delay=30.0), Fault(503, delay=30.0)])
        stream = stt.stream(conn_options=APIConnectOptions(max_retry=1, timeout=2.0))
        stream.push_frame(frames([(0.1, True)])[0])
        with pytest.raises(APITimeoutError):
            await events_of(stream)
        await stream.aclose()
        return asyncio.get_running_loop().time()

    failed_at, server = serve(test)
    assert server.times == [0.0, 2.0]
    assert failed_at == pytest.approx(4.0)
    assert server.closed_at == pytest.approx([2.0, 4.0])


def test_429_waits_for_retry_after_then_streams() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> list[SpeechEvent]:
        server.handshakes.append(Fault(429, {"err_code": "TOO_MANY_REQUESTS"},
                                       headers={"Retry-After": "3"}))
        stream = stt.stream()
        reader = asyncio.get_running_loop().create_task(events_of(stream))
        await feed(stream, frames([(0.5, True), (0.4, False)]))
        events = await reader
        await stream.aclose()
        return events

    events, server = serve(test)
    assert server.times == [0.0, 3.0]
    assert [e.type for e in events][-2:] == [FINAL, END]


def test_401_fails_fast_naming_provider_and_cause(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "dg-wrong-key-999"

    async def test(server: DeepgramServer, stt: deepgram.STT) -> APIStatusError:
        stream = stt.stream()
        stream.push_frame(frames([(0.1, True)])[0])
        with pytest.raises(APIStatusError) as info:
            await events_of(stream)
        await stream.aclose()
        return info.value

    err, server = serve(test, api_key=wrong)
    assert (err.status_code, err.retryable) == (401, False)
    assert len(server.requests("listen")) == 1
    assert str(err).startswith("deepgram: authentication failed (HTTP 401)")
    for text in (str(err), repr(err), caplog.text):
        assert wrong not in text


def test_aclose_on_barge_in_closes_the_socket() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> float:
        stream = stt.stream()
        await feed(stream, frames([(0.5, True)]), end=False)
        first = await anext(aiter(stream))
        assert first.type is START
        at = asyncio.get_running_loop().time()
        await stream.aclose()
        for _ in range(5):
            await asyncio.sleep(0)
        return at

    at, server = serve(test)
    assert server.closed_at == [at]
    assert ("control", {"type": "CloseStream"}) not in server.received


def test_batch_recognize_and_key_hygiene() -> None:
    async def test(server: DeepgramServer, stt: deepgram.STT) -> SpeechEvent:
        server.utterances.append("good morning")
        return await stt.recognize(frames([(0.3, True)]))

    event, server = serve(test)
    assert (event.type, event.text, event.request_id) == (FINAL, "good morning", "dg-batch-1")
    (query,) = server.requests("prerecorded")
    assert (query["model"], query["bytes"]) == ("nova-3", 44 + 2 * round(0.3 * RATE))
    stt = deepgram.STT(api_key=KEY)
    assert KEY not in repr(stt)
    assert KEY not in str(vars(stt))

