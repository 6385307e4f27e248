"""Small fake providers for the adapter tests (scripted latencies, failures, and a call log)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectionError, APIConnectOptions
from flowagents.llm import LLM, ChatContext, FunctionTool, ToolChoice
from flowagents.stt import STT, STTCapabilities
from flowagents.tts import TTS, TTSCapabilities
from flowagents.types import (
    AudioFrame,
    ChatChunk,
    FunctionToolCallDelta,
    SpeechData,
    SpeechEvent,
    SpeechEventType,
    SynthesizedAudio,
    VADEvent,
    VADEventType,
)
from flowagents.vad import VAD, VADOptions, VADStream


class FakeTTS(TTS):
    """Voices text as ``chunks`` frames of 0.1 s whose samples encode the text's length.

    ``delay(text)`` is the synthesis time before the first chunk; ``fail`` counts attempts that
    fail before any audio; ``fail_mid`` makes every call fail after its first chunk.
    """

    def __init__(self, *, sample_rate: int = 16000, chunks: int = 2, ttfb: float = 0.2,
                 label: str = "fake_tts", fail: int = 0, fail_mid: bool = False) -> None:
        super().__init__(TTSCapabilities(streaming=False), sample_rate)
        self.label = label
        self.chunks = chunks
        self.ttfb = ttfb
        self.fail = fail
        self.fail_mid = fail_mid
        self.calls: list[tuple[str, float]] = []

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        return self._run(text)

    async def _run(self, text: str) -> AsyncIterator[SynthesizedAudio]:
        loop = asyncio.get_running_loop()
        self.calls.append((text, loop.time()))
        await asyncio.sleep(self.ttfb)
        if self.fail > 0:
            self.fail -= 1
            raise APIConnectionError()
        for i in range(self.chunks):
            n = self.sample_rate // 10
            data = np.full(n, len(text) % 30000, dtype=np.int16)
            yield SynthesizedAudio(frame=AudioFrame(data, self.sample_rate),
                                   text=text, is_final=i == self.chunks - 1)
            if self.fail_mid:
                raise APIConnectionError()
            await asyncio.sleep(0.05)


class FakeSTT(STT):
    """Transcribes a segment as 'words:<n frames>'; ``delay`` per call; ``fail`` attempts fail."""

    def __init__(self, *, delay: float = 0.1, label: str = "fake_stt", fail: int = 0,
                 text: str | None = None) -> None:
        super().__init__(STTCapabilities(streaming=False, interim_results=False))
        self.label = label
        self.delay = delay
        self.fail = fail
        self.text = text
        self.calls: list[tuple[int, float]] = []

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        loop = asyncio.get_running_loop()
        self.calls.append((len(frames), loop.time()))
        await asyncio.sleep(self.delay)
        if self.fail > 0:
            self.fail -= 1
            raise APIConnectionError()
        text = self.text if self.text is not None else f"{self.label}:{len(frames)}"
        return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, loop.time(),
                           (SpeechData(text, "en", 1.0, frames[0].timestamp if frames else 0.0,
                                       frames[-1].end_time if frames else 0.0),))


class FakeVADStream(VADStream):
    """Energy VAD: a frame with any non-zero sample is speech. Start after ``min_speech`` of
    speech (dated back to its first frame), end after ``min_silence`` of silence (dated back)."""

    def __init__(self, options: VADOptions) -> None:
        self.options = options
        self.speaking = False
        self.run_start: float | None = None  # start of the current speech or silence run
        self.closed = False

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        voiced = bool(np.any(frame.data))
        if voiced != self.speaking:
            if self.run_start is None:
                self.run_start = frame.timestamp
            run = frame.end_time - self.run_start
            need = self.options.min_speech_duration if voiced else self.options.min_silence_duration
            if run >= need - 1e-9:
                self.speaking = voiced
                at, self.run_start = self.run_start, None
                kind = VADEventType.START_OF_SPEECH if voiced else VADEventType.END_OF_SPEECH
                return [VADEvent(kind, at, speaking=voiced)]
        else:
            self.run_start = None
        return []

    def flush(self) -> Sequence[VADEvent]:
        if self.speaking:
            self.speaking = False
            return [VADEvent(VADEventType.END_OF_SPEECH, self.run_start or 0.0)]
        return []

    def close(self) -> None:
        self.closed = True


class FakeVAD(VAD):
    def stream(self) -> FakeVADStream:
        return FakeVADStream(self.options)


class FakeLLM(LLM):
    """Streams ``reply`` word by word, ``ttft`` then 0.1 s per word; ``fail`` attempts fail
    before any chunk; ``fail_mid`` fails after the first chunk; ``tool_call`` sends a tool-call
    piece with each word. ``contexts`` records the context of each call."""

    def __init__(self, label: str, reply: str = "hello there", *, ttft: float = 0.1,
                 fail: int = 0, fail_mid: bool = False, tool_call: bool = False) -> None:
        self.label = label
        self.tool_call = tool_call
        self.contexts: list[ChatContext] = []
        self.reply = reply
        self.ttft = ttft
        self.fail = fail
        self.fail_mid = fail_mid
        self.calls: list[float] = []

    def chat(self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = (),
             tool_choice: ToolChoice = "auto",
             conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
             ) -> AsyncIterator[ChatChunk]:
        self.contexts.append(chat_ctx)
        return self._run()

    async def _run(self) -> AsyncIterator[ChatChunk]:
        self.calls.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.ttft)
        if self.fail > 0:
            self.fail -= 1
            raise APIConnectionError()
        for word in self.reply.split():
            calls = (FunctionToolCallDelta(name="f", arguments="{}"),) if self.tool_call else ()
            yield ChatChunk(id=self.label, delta=word + " ", tool_calls=calls)
            if self.fail_mid:
                raise APIConnectionError()
            await asyncio.sleep(0.1)
