"""Fallback adapters: switch on failure, never mid-reply, probe and switch back, resample."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from flowagents.errors import APIConnectionError, APIStatusError
from flowagents.llm import ChatContext
from flowagents.llm import FallbackAdapter as LLMFallback
from flowagents.runtime import run_virtual
from flowagents.stt import FallbackAdapter as STTFallback
from flowagents.tts import FallbackAdapter as TTSFallback
from flowagents.types import AudioFrame
from flowagents.vad import VADOptions

from .fakes import FakeLLM, FakeSTT, FakeTTS, FakeVAD


def _events(adapter: Any) -> list[tuple[str, bool, float]]:
    events: list[tuple[str, bool, float]] = []
    adapter.on("availability_changed", lambda e: events.append(
        (e.provider.label, e.available, round(asyncio.get_running_loop().time(), 6))))
    return events


async def _reply(llm: LLMFallback) -> str:
    ctx = ChatContext()
    ctx.add_message(role="user", content="hi")
    return "".join([c.delta async for c in llm.chat(chat_ctx=ctx)])


def test_llm_switches_after_retries_and_back_after_recovery() -> None:
    a = FakeLLM("a", "from a", fail=3)  # fails its attempt and its retry, then one probe
    b = FakeLLM("b", "from b")

    async def main() -> tuple[list[str], list[tuple[str, bool, float]]]:
        adapter = LLMFallback([a, b], recovery_interval=5.0)
        events = _events(adapter)
        first = await _reply(adapter)
        await asyncio.sleep(20)  # probes at 5.2 (fails at 5.3) and 10.3 (done at 10.6)
        second = await _reply(adapter)
        await adapter.aclose()
        return [first, second], events

    replies, events = run_virtual(main())
    assert replies == ["from b ", "from a "]
    assert [round(t, 6) for t in a.calls[:2]] == [0.0, 0.1]  # attempt, immediate retry
    assert events == [("a", False, 0.2), ("a", True, 10.6)]


def test_llm_failing_mid_reply_is_completed_by_the_next_llm() -> None:
    a = FakeLLM("a", "one two", fail_mid=True)
    b = FakeLLM("b", "three four")

    async def main() -> list[str]:
        adapter = LLMFallback([a, b])
        ctx = ChatContext()
        ctx.add_message(role="user", content="count")
        got = [c.delta async for c in adapter.chat(chat_ctx=ctx)]
        await adapter.aclose()
        return got

    assert run_virtual(main()) == ["one ", "three ", "four "]
    assert len(a.calls) == 1  # not retried: "one" was already said
    assert [(m.role, m.text_content) for m in b.contexts[0].items] == [
        ("user", "count"), ("assistant", "one ")]  # b continues what a said


def test_llm_never_switches_after_tool_call_pieces_were_delivered() -> None:
    a = FakeLLM("a", "one two", fail_mid=True, tool_call=True)
    b = FakeLLM("b")

    async def main() -> None:
        adapter = LLMFallback([a, b])
        with pytest.raises(APIConnectionError):
            async for _ in adapter.chat(chat_ctx=ChatContext()):
                pass
        await adapter.aclose()

    run_virtual(main())
    assert b.calls == []


def test_llm_all_failing_and_non_retryable() -> None:
    async def main() -> None:
        adapter = LLMFallback([FakeLLM("a", fail=9), FakeLLM("b", fail=9)])
        with pytest.raises(APIConnectionError, match="all LLMs failed") as info:
            await _reply(adapter)
        assert not info.value.retryable
        await adapter.aclose()  # cancels both probes

    run_virtual(main())

    class BadRequest(FakeLLM):
        async def _run(self) -> Any:  # type: ignore[override]
            raise APIStatusError("bad request", status_code=400)
            yield  # pragma: no cover

    b = FakeLLM("b")

    async def main2() -> None:
        adapter = LLMFallback([BadRequest("a"), b])
        with pytest.raises(APIStatusError):
            await _reply(adapter)
        await adapter.aclose()

    run_virtual(main2())
    assert b.calls == []


def test_tts_falls_back_and_resamples() -> None:
    a = FakeTTS(sample_rate=24000, label="a", fail=10, ttfb=0.1)
    b = FakeTTS(sample_rate=16000, label="b", chunks=3, ttfb=0.1)

    async def main() -> tuple[list[AudioFrame], list[tuple[str, bool, float]]]:
        adapter = TTSFallback([a, b])
        assert adapter.sample_rate == 24000
        events = _events(adapter)
        frames = [c.frame async for c in adapter.synthesize("hello")]
        await adapter.aclose()
        return frames, events

    frames, events = run_virtual(main())
    assert events == [("a", False, 0.2)]
    assert {f.sample_rate for f in frames} == {24000}
    total = sum(f.samples_per_channel for f in frames)
    assert abs(total - 0.3 * 24000) <= 48  # 0.3 s of 16 kHz audio, resampled (codec delay)
    middle = np.concatenate([f.data for f in frames])[2000:5000].astype(int)
    assert np.all(np.abs(middle - 5) <= 1)  # the fake's constant level, through the resampler


def test_tts_stream_uses_the_fallback_per_sentence() -> None:
    a = FakeTTS(label="a", fail=10, ttfb=0.1, chunks=1)
    b = FakeTTS(label="b", ttfb=0.1, chunks=1)

    async def main() -> list[str]:
        adapter = TTSFallback([a, b])
        stream = adapter.stream()
        stream.push_text("This is the first sentence. ")
        stream.end_input()
        texts = [c.text async for c in stream if c.text]
        await stream.aclose()
        await adapter.aclose()
        return texts

    assert run_virtual(main()) == ["This is the first sentence."]
    assert [t for t, _ in b.calls] == ["This is the first sentence."]


def test_stt_recognize_and_stream_fall_back() -> None:
    a = FakeSTT(label="a", fail=10)
    b = FakeSTT(label="b")
    frames = [AudioFrame(np.full(1600, 500 if 3 <= i < 8 else 0, dtype=np.int16), 16000,
                         timestamp=i / 10) for i in range(15)]

    async def main() -> tuple[str, list[str], list[tuple[str, bool, float]]]:
        adapter = STTFallback([a, b], vad=FakeVAD(VADOptions(
            min_speech_duration=0.1, min_silence_duration=0.3, prefix_padding=0.1)))
        events = _events(adapter)
        batch = await adapter.recognize(frames)
        stream = adapter.stream()
        for f in frames:
            stream.push_frame(f)
        stream.end_input()
        kinds = [e.type.name + ":" + e.text async for e in stream]
        await stream.aclose()
        await adapter.aclose()
        return batch.text, kinds, events

    text, kinds, events = run_virtual(main())
    assert text == "b:15"
    assert kinds == ["START_OF_SPEECH:", "FINAL_TRANSCRIPT:b:9", "END_OF_SPEECH:"]
    assert events == [("a", False, 0.2)]


def test_stt_stream_needs_a_vad() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            STTFallback([FakeSTT()]).stream()

    run_virtual(main())
