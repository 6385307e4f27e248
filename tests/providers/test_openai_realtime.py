"""openai.realtime against the local Realtime server: the protocol, in virtual time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest

from flowagents.errors import APIConnectOptions, APIError, APIStatusError, APITimeoutError
from flowagents.llm import ChatContext
from flowagents.llm.realtime import RealtimeInput, RealtimeOutput
from flowagents.plugins import openai
from flowagents.runtime import run_virtual
from flowagents.types import AudioFrame

from .cartesia_server import words_pcm
from .realtime_server import Fault, RealtimeServer

T = TypeVar("T")
KEY = "sk-test-0123456789"
RATE = 24000


def serve(test: Callable[[RealtimeServer, openai.realtime.RealtimeModel], Awaitable[T]], *,
          api_key: str = KEY) -> tuple[T, RealtimeServer]:
    server = RealtimeServer(api_key=KEY)

    async def main() -> T:
        async with server as url:
            model = openai.realtime.RealtimeModel(base_url=url, api_key=api_key, voice="verse")
            try:
                return await test(server, model)
            finally:
                await model.aclose()

    return run_virtual(main()), server


def speech(pattern: list[tuple[float, bool]], size: int = 480) -> list[AudioFrame]:
    pcm = np.concatenate([np.full(round(s * RATE), 3000 if loud else 0, dtype=np.int16)
                          for s, loud in pattern])
    return [AudioFrame(pcm[i:i + size], RATE) for i in range(0, len(pcm), size)]


async def hear(session: openai.realtime.RealtimeSession, n: int) -> list[RealtimeInput]:
    out = []
    async for item in session.inputs():
        out.append(item)
        if len(out) == n:
            break
    return out


def test_a_turn_heard_transcribed_and_answered() -> None:
    async def test(server: RealtimeServer, model: openai.realtime.RealtimeModel
                   ) -> tuple[list[RealtimeInput], list[RealtimeOutput]]:
        server.transcripts.append("what is the weather")
        server.replies.append("It is sunny.")
        session = model.session()
        ctx = ChatContext()
        ctx.add_message(role="user", content="Hi, I am Ana.")
        await session.update(instructions="Be brief.", chat_ctx=ctx)
        for frame in speech([(0.2, False), (1.0, True), (0.5, False)]):
            session.push_audio(frame)
        heard = await hear(session, 3)
        outputs = [o async for o in session.generate_reply()]
        await session.aclose()
        return heard, outputs

    (heard, outputs), server = serve(test)
    assert [(i.kind, round(i.time, 3), i.transcript) for i in heard] == [
        ("speech_started", 0.2, ""), ("speech_stopped", 1.5, ""),
        ("transcript", 0.0, "what is the weather")]
    assert "".join(o.text for o in outputs) == "It is sunny."
    audio = b"".join(o.audio.data.tobytes() for o in outputs if o.audio is not None)
    assert audio == b"".join(words_pcm(w, RATE) for w in ("It", "is", "sunny."))
    assert outputs[-1].usage is not None
    assert outputs[-1].usage.completion_tokens == 30
    assert len({o.item_id for o in outputs if o.audio is not None}) == 1
    kinds = server.kinds()
    assert kinds[:2] == ["session.update", "conversation.item.create"]
    update = server.events[0][1]["session"]
    assert update["voice"] == "verse"
    assert update["turn_detection"]["create_response"] is False
    assert update["input_audio_format"] == update["output_audio_format"] == "pcm16"
    assert server.events[1][1]["item"]["content"] == [{"type": "input_text",
                                                      "text": "Hi, I am Ana."}]
    assert server.audio_seconds == pytest.approx(1.7)
    headers = server.seen[0][2]
    assert (headers["OpenAI-Beta"], headers["Authorization"]) == ("realtime=v1",
                                                                  f"Bearer {KEY}")


def test_an_interrupted_reply_is_cancelled_and_truncated_at_the_played_position() -> None:
    async def test(server: RealtimeServer, model: openai.realtime.RealtimeModel
                   ) -> tuple[float, str]:
        server.replies.append("Once upon a time there was a fox.")
        session = model.session()
        reply = session.generate_reply()
        played, item = 0.0, ""
        async for out in reply:
            if out.audio is not None:
                played += out.audio.duration
                item = out.item_id
            if played >= 0.25:
                break
        at = asyncio.get_running_loop().time()
        await reply.aclose()  # what disposing the speech's audio does
        await session.truncate(item, 0.25)
        for _ in range(5):
            await asyncio.sleep(0)
        await session.aclose()
        return at, item

    (at, item), server = serve(test)
    assert server.cancels == [at]
    assert server.truncations == [(item, 250, at)]


def test_401_fails_the_session_fast(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(server: RealtimeServer, model: openai.realtime.RealtimeModel
                   ) -> APIStatusError:
        session = model.session()
        with pytest.raises(APIStatusError) as info:
            await hear(session, 1)
        await session.aclose()
        return info.value

    err, server = serve(test, api_key="sk-wrong-1")
    assert (err.status_code, err.retryable) == (401, False)
    assert len(server.seen) == 1
    assert str(err).startswith("openai: authentication failed (HTTP 401)")
    assert "sk-wrong-1" not in caplog.text + str(err)


def test_malformed_event_fails_the_reply_and_the_session() -> None:
    async def test(server: RealtimeServer, model: openai.realtime.RealtimeModel) -> None:
        server.malformed = True
        session = model.session()
        with pytest.raises(APIError, match="openai: malformed realtime event"):
            async for _ in session.generate_reply():
                pass
        with pytest.raises(APIError, match="malformed"):
            await hear(session, 1)
        await session.aclose()

    serve(test)


def test_connecting_waits_for_retry_after_and_gives_up_on_a_slow_handshake() -> None:
    async def test(server: RealtimeServer, model: openai.realtime.RealtimeModel
                   ) -> tuple[list[RealtimeInput], float]:
        server.handshakes.append(Fault(429, {"error": {"message": "slow down"}},
                                       headers={"Retry-After": "2"}))
        session = model.session()
        for frame in speech([(0.5, True), (0.4, False)]):
            session.push_audio(frame)
        heard = await hear(session, 2)  # the audio queued while connecting is not lost
        await session.aclose()
        slow = openai.realtime.RealtimeModel(
            base_url=server.base_url, api_key=KEY,
            conn_options=APIConnectOptions(max_retry=1, timeout=3.0))
        server.handshakes.extend([Fault(503, delay=30.0)] * 2)
        late = slow.session()
        started = asyncio.get_running_loop().time()
        with pytest.raises(APITimeoutError):
            await hear(late, 1)
        await late.aclose()
        await slow.aclose()
        return heard, asyncio.get_running_loop().time() - started

    (heard, waited), server = serve(test)
    assert [i.kind for i in heard] == ["speech_started", "speech_stopped"]
    assert server.times[:2] == [0.0, 2.0]  # the retry waited for Retry-After
    assert waited == pytest.approx(6.0)  # two attempts of 3 s
