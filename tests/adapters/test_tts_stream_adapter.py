"""TTS stream adapter: sentences voiced in order, one ahead, segments closed by flush()."""

from __future__ import annotations

import asyncio

import pytest

from flowagents.errors import APIConnectionError
from flowagents.runtime import run_virtual
from flowagents.tokenize import SentenceStream
from flowagents.tts import StreamAdapter

from .fakes import FakeTTS

S1 = "The first sentence is here."
S2 = "And here comes the second one."
S3 = "A third sentence, in a new segment."


def _collect(tts: FakeTTS, script: list[tuple[float, str]]) -> list[tuple[float, str, bool, str]]:
    """Push ``(time, text)`` steps ('<flush>' / '<end>' as markers); return emitted chunks."""

    async def main() -> list[tuple[float, str, bool, str]]:
        loop = asyncio.get_running_loop()
        stream = StreamAdapter(tts).stream()
        out: list[tuple[float, str, bool, str]] = []

        async def feed() -> None:
            for at, text in script:
                await asyncio.sleep(at - loop.time())
                if text == "<flush>":
                    stream.flush()
                elif text == "<end>":
                    stream.end_input()
                else:
                    stream.push_text(text)

        feeder = asyncio.create_task(feed())
        try:
            async for chunk in stream:
                out.append((round(loop.time(), 6), chunk.text, chunk.is_final, chunk.segment_id))
        finally:
            await feeder
            await stream.aclose()
        return out

    return run_virtual(main())


def test_sentences_in_order_with_the_next_synthesized_ahead() -> None:
    tts = FakeTTS(ttfb=0.2, chunks=2)
    out = _collect(tts, [(0.0, S1[:10]), (0.1, S1[10:] + " " + S2), (0.15, "<flush>"),
                         (0.2, S3), (0.3, "<end>")])
    # S1 is complete only when S2 starts (0.1); S2 when flushed (0.15), while S1 synthesizes
    assert [(text, round(t, 6)) for text, t in tts.calls] == [(S1, 0.1), (S2, 0.15), (S3, 0.4)]
    times = [t for t, *_ in out]
    assert times == [0.3, 0.35, 0.4, 0.4, 0.6, 0.65]  # S2 is ready early, waits for S1 to end
    assert [(text, final) for _, text, final, _ in out] == [
        (S1, False), ("", False), (S2, False), ("", True), (S3, False), ("", True)]
    seg = [s for *_, s in out]
    assert seg[0] == seg[1] == seg[2] == seg[3] != seg[4] == seg[5]


def test_a_segment_ending_after_its_audio_gets_an_empty_final_chunk() -> None:
    tts = FakeTTS(ttfb=0.1, chunks=1)
    out = _collect(tts, [(0.0, S1), (1.0, "<flush>"), (1.0, "<end>")])
    # S1 waits for its lookahead until flush
    assert [(t, text, final) for t, text, final, _ in out] == [(1.1, S1, True)]
    tts = FakeTTS(ttfb=0.1, chunks=1)
    out = _collect(tts, [(0.0, S1 + " " + S2[:3]), (1.0, "<flush>"), (1.0, "<end>")])
    assert [(t, text, final) for t, text, final, _ in out] == [
        (0.1, S1, False), (1.1, S2[:3], True)]


def test_at_most_two_sentences_synthesize_at_once() -> None:
    tts = FakeTTS(ttfb=1.0, chunks=1)
    text = " ".join(f"Sentence number {i} is long enough." for i in range(4))
    _collect(tts, [(0.0, text), (0.0, "<end>")])
    # the third starts when the first is fully emitted (1.0 + 0.05), the fourth when the second is
    assert [round(t, 6) for _, t in tts.calls] == [0.0, 0.0, 1.05, 1.05]


def test_retries_a_sentence_before_its_audio_and_fails_after() -> None:
    tts = FakeTTS(ttfb=0.1, chunks=1, fail=1)
    out = _collect(tts, [(0.0, S1), (0.0, "<end>")])
    assert [(t, text) for t, text, _, _ in out] == [(0.2, S1)]  # retried at once after 0.1
    tts = FakeTTS(ttfb=0.1, chunks=2, fail_mid=True)
    with pytest.raises(APIConnectionError):
        _collect(tts, [(0.0, S1), (0.0, "<end>")])
    assert len(tts.calls) == 1


def test_custom_tokenizer_and_passthrough() -> None:
    tts = FakeTTS(ttfb=0.0, chunks=1)
    adapter = StreamAdapter(tts, lambda: SentenceStream(min_sentence_len=0))
    assert adapter.capabilities.streaming
    assert adapter.sample_rate == tts.sample_rate

    async def main() -> list[str]:
        stream = adapter.stream()
        stream.push_text("Hi. Yo. ")
        stream.end_input()
        texts = [c.text async for c in stream]
        await stream.aclose()
        return texts

    assert run_virtual(main()) == ["Hi.", "Yo."]
