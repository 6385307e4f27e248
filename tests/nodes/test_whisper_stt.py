"""WhisperSTT's decoding choices on a scripted model (no weights): the short encoder window, the
fallback to the full window on a doubtful result, and abandoned calls that stop early.

The real model on real audio is covered in ``tests/e2e``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("faster_whisper")

from flowagents.plugins.whisper import (  # noqa: E402
    WhisperSTT,
    plausible,
    tail_confidence,
    window_frames,
)
from flowagents.types import AudioFrame  # noqa: E402

WORDS = ["<sot>", "<notimestamps>", "what", "is", "the", "weather", "in", "tokyo", "stop"]


@dataclass
class _Result:
    sequences_ids: list[list[int]]
    scores: list[float]
    logits: list[list[npt.NDArray[np.float32]]]
    no_speech_prob: float = 0.01


def _logits(token: int, p: float = 0.5) -> npt.NDArray[np.float32]:
    """Scores over the fake vocabulary that give ``token`` the probability ``p``, the rest
    shared evenly."""
    rest = (1 - p) / (len(WORDS) - 1)
    probs = np.full(len(WORDS), rest)
    probs[token] = p
    return np.log(probs).astype(np.float32) + 3.0  # any offset: scores, not probabilities


class _Tokenizer:
    def decode(self, ids: list[int]) -> str:
        return " " + " ".join(WORDS[i] for i in ids)


@dataclass
class _Segment:
    text: str


@dataclass
class FakeWhisper:
    """Scripted stand-in for ``faster_whisper.WhisperModel``: records what was asked."""

    tokens: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6, 7])
    full_text: str = "full window text"
    encode_gate: threading.Event | None = None  # encode waits for it when set
    encoding: threading.Event = field(default_factory=threading.Event)
    windows: list[int] = field(default_factory=list)
    generated: int = 0
    full_calls: int = 0

    @property
    def model(self) -> Any:
        return self

    is_multilingual = False

    def feature_extractor(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.ones((80, audio.size // 160 + 1), dtype=np.float32)

    def encode(self, features: npt.NDArray[np.float32]) -> str:
        self.windows.append(features.shape[-1])
        self.encoding.set()
        if self.encode_gate is not None:
            assert self.encode_gate.wait(5)
        return "encoded"

    def generate(self, encoded: str, prompts: list[list[int]], *, max_length: int,
                 **_: Any) -> list[_Result]:
        self.generated += 1
        room = max_length - len(prompts[0])
        tokens = self.tokens[:room]
        return [_Result([tokens], [-0.2], logits=[[_logits(t) for t in tokens]])]

    def transcribe(self, audio: npt.NDArray[np.float32], **_: Any) -> tuple[list[_Segment], None]:
        self.full_calls += 1
        return [_Segment(self.full_text)], None


def _stt(fake: FakeWhisper, **kwargs: Any) -> WhisperSTT:
    stt = WhisperSTT(model=fake, **kwargs)
    stt._prompts["en"] = ([0, 1], [], _Tokenizer())  # no tokenizer files in a unit test
    return stt


def _speech(seconds: float) -> list[AudioFrame]:
    return [AudioFrame.silence(seconds, 16000)]


def test_the_window_is_ten_seconds_or_the_audio_plus_one_up_to_thirty() -> None:
    assert window_frames(230, 10.0) == 1000
    assert window_frames(1200, 10.0) == 1300
    assert window_frames(2900, 10.0) is None  # too long: faster-whisper's sliding windows
    assert window_frames(230, None) is None


def test_plausible_rejects_loops_and_missing_words() -> None:
    assert plausible("What is the weather in Tokyo?", 8, 52, 2.3)
    assert not plausible("stop " * 40, 40, 52, 2.3)  # repetition: gzip compresses it away
    assert not plausible("What is", 52, 52, 2.3)  # the token cap reached: a loop
    assert not plausible("What should I cook tonight?", 6, 120, 7.4)  # 5 words in 7.4 s
    assert plausible("", 0, 30, 1.0)  # a short segment may hold no words


async def test_a_short_segment_is_encoded_in_a_ten_second_window() -> None:
    fake = FakeWhisper()
    event = await _stt(fake).recognize(_speech(2.3))
    assert event.text == "what is the weather in tokyo"
    assert fake.windows == [1000]
    assert fake.full_calls == 0


async def test_a_doubtful_short_result_is_decoded_again_on_the_full_window() -> None:
    fake = FakeWhisper(tokens=[8] * 200)  # "stop stop stop ...": a repetition loop
    event = await _stt(fake).recognize(_speech(2.3))
    assert event.text == "full window text"
    assert fake.full_calls == 1


async def test_short_window_off_uses_the_full_window() -> None:
    fake = FakeWhisper()
    event = await _stt(fake, short_window=None).recognize(_speech(2.3))
    assert event.text == "full window text"
    assert fake.windows == []


async def test_a_call_cancelled_while_it_runs_stops_after_the_encoder() -> None:
    fake = FakeWhisper(encode_gate=threading.Event())
    stt = _stt(fake)
    task = asyncio.create_task(stt.recognize(_speech(2.3)))
    assert await asyncio.to_thread(fake.encoding.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.encode_gate is not None
    fake.encode_gate.set()
    await stt.recognize(_speech(1.0))  # queued behind it: runs once the stale call returns
    assert fake.generated == 1  # only the second call decoded
    assert fake.full_calls == 0


async def test_a_call_cancelled_while_queued_never_runs() -> None:
    fake = FakeWhisper(encode_gate=threading.Event())
    stt = _stt(fake)
    first = asyncio.create_task(stt.recognize(_speech(2.3)))
    assert await asyncio.to_thread(fake.encoding.wait, 5)
    queued = asyncio.create_task(stt.recognize(_speech(3.0)))
    await asyncio.sleep(0)
    queued.cancel()
    assert fake.encode_gate is not None
    fake.encode_gate.set()
    assert (await first).text == "what is the weather in tokyo"
    with pytest.raises(asyncio.CancelledError):
        await queued
    await stt.aclose()
    assert fake.windows == [1000]  # the queued call never reached the model


def test_the_confidence_is_the_geometric_mean_of_the_last_three_tokens() -> None:
    tokens = [2, 3, 4, 5]
    probs = [0.01, 0.9, 0.4, 0.1]  # the first is outside the last three
    logits = [_logits(t, p) for t, p in zip(tokens, probs, strict=True)]
    assert tail_confidence(logits, tokens) == pytest.approx((0.9 * 0.4 * 0.1) ** (1 / 3))
    assert tail_confidence(logits[-1:], tokens[-1:]) == pytest.approx(0.1)
    assert tail_confidence([], []) == 0.0


async def test_a_short_window_result_reports_its_confidence() -> None:
    event = await _stt(FakeWhisper()).recognize(_speech(2.0))
    assert event.text == "what is the weather in tokyo"
    assert event.alternatives[0].confidence == pytest.approx(0.5)


async def test_a_full_window_result_reports_no_confidence() -> None:
    event = await _stt(FakeWhisper(), short_window=None).recognize(_speech(2.0))
    assert event.text == "full window text"
    assert event.alternatives[0].confidence == 0.0
