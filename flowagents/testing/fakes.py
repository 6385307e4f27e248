"""Fake VAD, STT, LLM and TTS providers that play a :class:`~flowagents.testing.script.Script`.

They implement the real provider contracts, so the real session and graph run on them, and their
timing is exact on the session clock (the running loop's ``time()``; virtual in tests):

- :class:`FakeVAD`: start of speech is delivered at ``start + min_speech_duration`` (the event is
  dated back to ``start``), end of speech at ``end + min_silence_duration`` (dated back to ``end``).
  It decides from the timestamps of the frames it is given: an event comes out of the
  ``process(frame)`` call of the first frame whose end reaches the delivery time (exact with 10 ms
  frames on a 10 ms grid). Segments closer than ``min_silence_duration`` merge into one speech
  region, as a real VAD would hear them; a region shorter than ``min_speech_duration`` is not
  speech. INFERENCE_DONE events are off unless ``inference_interval`` is set.
- :class:`FakeSTT`: for a segment with words whose audio it receives, an interim transcript (the
  first half of the words) at ``end + stt_delay / 2`` and the final at ``end + stt_delay``. Noise
  (empty transcript) yields nothing. Batch ``recognize`` answers ``stt_delay`` after the call
  (the largest of the heard segments'; empty text for noise only); ``streaming=False`` makes it a
  batch-only STT whose ``stream()`` raises.
- :class:`FakeLLM`: the reply scripted for the input (the last user message, instruction message or
  tool output of the chat context, see :func:`llm_input_keys`): first chunk ``ttft`` after the
  call, the content in chunks of :attr:`FakeLLM.words_per_chunk` words then the tool calls spread
  until ``duration``, where the last chunk carries usage (tokens counted as words). Unknown input:
  one empty chunk at the default duration.
- :class:`FakeTTS`: the audio scripted for the text: first chunk ``ttfb`` after the call, the last
  at ``duration``, ``audio_duration`` seconds of silent int16 audio in ``frame_duration`` frames.
  Unscripted text gets :data:`~flowagents.testing.script.SECONDS_PER_CHARACTER` seconds of audio
  per character (set ``unscripted_audio=False`` for none).

Every fake records its calls (``calls``, ``streams``) for assertions, and stops when its
iterator is closed or the task reading it is cancelled.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.llm.chat_context import ChatContext
from flowagents.llm.llm import LLM, ToolChoice
from flowagents.llm.tool_context import FunctionTool
from flowagents.stt.stt import STT, SpeechStream, STTCapabilities
from flowagents.tts.tts import TTS, SynthesizeStream, TTSCapabilities
from flowagents.types import (
    AudioFrame,
    ChatChunk,
    FunctionToolCallDelta,
    SpeechData,
    SpeechEvent,
    SpeechEventType,
    SynthesizedAudio,
    TokenUsage,
    VADEvent,
    VADEventType,
)
from flowagents.vad.vad import VAD, VADOptions, VADStream

from .script import (
    DEFAULT_LLM_DURATION,
    DEFAULT_TTS_DURATION,
    DEFAULT_TTS_TTFB,
    SECONDS_PER_CHARACTER,
    LLMReply,
    ProviderFault,
    Script,
    TTSAudio,
    UserSpeech,
    normalize_text,
)

__all__ = [
    "FakeLLM",
    "FakeSTT",
    "FakeSpeechStream",
    "FakeSynthesizeStream",
    "FakeTTS",
    "FakeVAD",
    "FakeVADStream",
    "LLMCall",
    "RecognizeCall",
    "TTSCall",
    "llm_input_keys",
    "sleep_until",
]

_EPS = 1e-6  # frame timestamps are sums of floats; a microsecond is far below any frame


def faulted(fault: ProviderFault | None, times: list[float], start: float = 0.0
            ) -> tuple[list[float], tuple[int, float] | None]:
    """A request's chunk times under ``fault`` (the request made at ``start``): shifted for a
    slow first byte, and where an error or stall strikes (chunks sent before it, when)."""
    if fault is None or not times:
        return times, None
    if fault.kind == "slow_first":
        return [t + fault.delay for t in times], None
    if fault.at is not None:
        return times, (sum(1 for t in times if t < fault.at), fault.at)
    if fault.after is not None:
        return times, (min(fault.after_chunks, len(times)), start + fault.after)
    n = min(fault.after_chunks, len(times) - 1)
    return times, (n, times[n])


async def strike(fault: ProviderFault, when: float) -> None:
    """Play ``fault`` at ``when``: raise its error, or stall until cancelled."""
    await sleep_until(when)
    if fault.kind == "stall":
        await asyncio.get_running_loop().create_future()  # never resolved: only a cancel ends it
    raise fault.exception()


async def sleep_until(when: float) -> None:
    """Sleep until the loop clock reads ``when`` (absolute, so successive waits do not drift)."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    fut: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(when, _resolve, fut)
    try:
        await fut
    finally:
        handle.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# -- VAD -----------------------------------------------------------------------------------------


class FakeVAD(VAD):
    """A VAD that hears the script's speech segments (see the module docstring for timing)."""

    label = "fake-vad"

    def __init__(self, script: Script, options: VADOptions | None = None, *,
                 inference_interval: float | None = None) -> None:
        super().__init__(options)
        self.script = script
        self.inference_interval = inference_interval
        self.streams: list[FakeVADStream] = []

    def stream(self) -> FakeVADStream:
        s = FakeVADStream(self)
        self.streams.append(s)
        return s


def _speech_regions(speech: Sequence[UserSpeech], opts: VADOptions) -> list[tuple[float, float]]:
    """Segments as a VAD hears them: merged across short pauses, too-short ones dropped."""
    regions: list[list[float]] = []
    for seg in sorted(speech, key=lambda s: s.start):
        if regions and seg.start < regions[-1][1] + opts.min_silence_duration:
            regions[-1][1] = max(regions[-1][1], seg.end)
        else:
            regions.append([seg.start, seg.end])
    return [(a, b) for a, b in regions if b - a >= opts.min_speech_duration - _EPS]


class FakeVADStream(VADStream):
    """Delivers precomputed events as frames reach their times: O(1) per idle frame."""

    _NONE: tuple[VADEvent, ...] = ()

    def __init__(self, vad: FakeVAD) -> None:
        opts = self._opts = vad.options
        self._regions = _speech_regions(vad.script.speech, opts)
        self._speech = list(vad.script.speech)
        schedule: list[tuple[float, VADEvent]] = []
        for start, end in self._regions:
            schedule.append((start + opts.min_speech_duration, VADEvent(
                VADEventType.START_OF_SPEECH, start, 1.0,
                speech_duration=opts.min_speech_duration, speaking=True)))
            schedule.append((end + opts.min_silence_duration, VADEvent(
                VADEventType.END_OF_SPEECH, end, 0.0, speech_duration=end - start,
                silence_duration=opts.min_silence_duration, speaking=False)))
        self._schedule = schedule
        self._next = 0
        self._next_at = schedule[0][0] if schedule else math.inf
        self._interval = vad.inference_interval
        self._next_inference = math.inf  # set from the first frame when inference is on
        self._started = False
        self._closed = False
        self.frames = 0
        self.events: list[VADEvent] = []  # what it emitted, in order

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        self.frames += 1
        end = frame.timestamp + frame.data.shape[0] / (frame.sample_rate * frame.num_channels)
        if not self._started:
            self._start(frame.timestamp)
        if end + _EPS < self._next_at and end + _EPS < self._next_inference:
            return self._NONE
        out: list[VADEvent] = []
        while self._next < len(self._schedule) and self._schedule[self._next][0] <= end + _EPS:
            out.append(self._schedule[self._next][1])
            self._next += 1
        self._next_at = (self._schedule[self._next][0] if self._next < len(self._schedule)
                         else math.inf)
        if self._interval is not None and end + _EPS >= self._next_inference:
            out.append(self._inference(end))
            self._next_inference = end + self._interval
        self.events.extend(out)
        return out

    def _start(self, t0: float) -> None:
        """Skip regions whose start was due before the first frame (a stream opened late)."""
        self._started = True
        while (self._next < len(self._schedule)
               and self._schedule[self._next][1].type is VADEventType.START_OF_SPEECH
               and self._schedule[self._next][0] < t0 - _EPS):
            self._next += 2
        self._next_at = (self._schedule[self._next][0] if self._next < len(self._schedule)
                         else math.inf)
        if self._interval is not None:
            self._next_inference = t0

    def _inference(self, now: float) -> VADEvent:
        silence = self._opts.min_silence_duration
        for start, end in self._regions:
            if start <= now < end:
                speaking = now - start >= self._opts.min_speech_duration - _EPS
                pause = self._pause(now)  # silence shorter than the wait, inside the segment
                if pause is not None and speaking:
                    return VADEvent(VADEventType.INFERENCE_DONE, now, 0.0,
                                    speech_duration=now - start, silence_duration=now - pause,
                                    speaking=True)
                return VADEvent(VADEventType.INFERENCE_DONE, now, 1.0,
                                speech_duration=now - start, speaking=speaking)
            if end <= now < end + silence and now >= start + self._opts.min_speech_duration:
                return VADEvent(VADEventType.INFERENCE_DONE, now, 0.0,
                                speech_duration=end - start, silence_duration=now - end,
                                speaking=True)
        return VADEvent(VADEventType.INFERENCE_DONE, now, 0.0)

    def _pause(self, now: float) -> float | None:
        """Where the silence ``now`` is in began, when it is a pause between two utterances of
        the script that the VAD hears as one segment (shorter than its silence wait)."""
        ends = [s.end for s in self._speech if s.end <= now + _EPS]
        if not ends or any(s.start <= now + _EPS < s.end for s in self._speech):
            return None
        return max(ends)

    def flush(self) -> Sequence[VADEvent]:
        """An end of speech for a region that started but whose end was not delivered yet."""
        if self._next < len(self._schedule):
            pending = self._schedule[self._next][1]
            if pending.type is VADEventType.END_OF_SPEECH:
                self._next += 1
                self.events.append(pending)
                return [pending]
        return ()

    def close(self) -> None:
        self._closed = True


# -- STT -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class RecognizeCall:
    """One batch ``recognize`` call: when, the audio span it covered, what it returned, and
    whether it was cancelled before returning (its caller abandoned it)."""

    time: float
    start: float
    end: float
    text: str = ""
    cancelled: bool = False


class FakeSTT(STT):
    """A streaming STT that transcribes the script's speech segments it hears.

    ``streaming=False`` makes it batch-only, like Whisper: ``stream()`` raises ``TypeError``
    (as :meth:`STT.stream` does for a provider that cannot stream) and the voice graph calls
    ``recognize`` on each of the session VAD's speech segments instead.
    """

    label = "fake-stt"

    def __init__(self, script: Script, *, streaming: bool = True,
                 interim_results: bool = True) -> None:
        super().__init__(STTCapabilities(streaming=streaming, interim_results=interim_results))
        self.script = script
        self.streams: list[FakeSpeechStream] = []
        self.calls: list[RecognizeCall] = []

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        """The transcripts of the segments the frames overlap, ``stt_delay`` after the call."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = min((f.timestamp for f in frames), default=now)
        end = max((f.end_time for f in frames), default=now)
        heard = [s for s in self.script.speech
                 if not s.is_noise and s.start < end - _EPS and s.end > start + _EPS]
        call = RecognizeCall(now, start, end)
        self.calls.append(call)
        try:
            await sleep_until(now + max((s.stt_delay for s in heard), default=0.0))
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        call.text = " ".join(normalize_text(s.transcript) for s in heard)
        confidence = min((s.confidence for s in heard), default=1.0)
        data = (SpeechData(call.text, language or "en", confidence, start, end),)
        return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, loop.time(), data)

    def stream(
        self, *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> FakeSpeechStream:
        if not self.capabilities.streaming:
            super().stream(language=language, conn_options=conn_options)  # raises TypeError
        s = FakeSpeechStream(self, language or "en")
        self.streams.append(s)
        return s


class FakeSpeechStream(SpeechStream):
    """Schedules each heard segment's interim and final on the loop clock."""

    def __init__(self, stt: FakeSTT, language: str) -> None:
        self._stt = stt
        self._language = language
        self._segments = [s for s in stt.script.speech if not s.is_noise]
        self._failure: BaseException | None = None  # a scripted stream error, once it struck
        loop = asyncio.get_running_loop()
        self._fault_timers = [
            loop.call_at(f.at, self._fail, f) for f in stt.script.faults
            if f.provider == "stt" and f.at is not None and f.at >= loop.time()]
        self._first = 0  # segments before it ended before the audio pushed so far
        self._heard: set[int] = set()
        self._queue: asyncio.Queue[SpeechEvent | None] = asyncio.Queue()
        self._timers: list[asyncio.TimerHandle] = []
        self._due: dict[float, list[SpeechEvent]] = {}
        self._pending = 0
        self._input_ended = False
        self._closed = False
        self.frames = 0
        self.events: list[SpeechEvent] = []  # what it emitted, in order

    def push_frame(self, frame: AudioFrame) -> None:
        if self._closed or self._input_ended:
            return
        self.frames += 1
        t0, t1 = frame.timestamp, frame.end_time
        segs = self._segments
        while self._first < len(segs) and segs[self._first].end <= t0 + _EPS:
            self._first += 1
        for i in range(self._first, len(segs)):
            seg = segs[i]
            if seg.start >= t1 - _EPS:
                break
            if seg.end > t0 + _EPS and i not in self._heard:
                self._heard.add(i)
                self._schedule(seg)

    def _schedule(self, seg: UserSpeech) -> None:
        loop = asyncio.get_running_loop()
        final = SpeechData(normalize_text(seg.transcript), self._language, seg.confidence,
                           seg.start, seg.end)
        if self._stt.capabilities.interim_results:
            at = seg.end + seg.stt_delay / 2
            interim = SpeechData(seg.interim, self._language, 0.5, seg.start, seg.end)
            self._at(loop, at, SpeechEvent(SpeechEventType.INTERIM_TRANSCRIPT, at, (interim,)))
        at = seg.end + seg.stt_delay
        self._at(loop, at, SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, at, (final,)))

    def _at(self, loop: asyncio.AbstractEventLoop, when: float, event: SpeechEvent) -> None:
        """Emit ``event`` at ``when``. Events due at one instant go out in the order they were
        scheduled (an interim before its final): one timer per instant, since the loop's timer
        heap does not keep the order of equal deadlines."""
        self._pending += 1
        when = max(when, loop.time())
        due = self._due.get(when)
        if due is not None:
            due.append(event)
            return
        self._due[when] = [event]
        self._timers.append(loop.call_at(when, self._emit_due, when))

    def _emit_due(self, when: float) -> None:
        for event in self._due.pop(when, ()):
            self._emit(event)

    def _emit(self, event: SpeechEvent) -> None:
        self._pending -= 1
        if self._closed:
            return
        self.events.append(event)
        self._queue.put_nowait(event)
        if self._input_ended and self._pending == 0:
            self._queue.put_nowait(None)

    def _fail(self, fault: ProviderFault) -> None:
        if not self._closed and self._failure is None:
            self._failure = fault.exception()
            self._queue.put_nowait(None)

    def flush(self) -> None:
        """Nothing to do: results come on the script's schedule."""

    def end_input(self) -> None:
        if not self._input_ended:
            self._input_ended = True
            if self._pending == 0:
                self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[SpeechEvent]:
        while (event := await self._queue.get()) is not None:
            yield event
        if self._failure is not None:
            raise self._failure

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            for timer in self._timers + self._fault_timers:
                timer.cancel()
            self._queue.put_nowait(None)


# -- LLM -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class LLMCall:
    """One ``chat`` call: the context it saw (its items at the call, shared with the caller's),
    the tools, and how it ended."""

    time: float
    chat_ctx: ChatContext
    tools: tuple[FunctionTool, ...]
    tool_choice: ToolChoice
    input: str | None
    reply: LLMReply | None
    chunks: list[ChatChunk] = field(default_factory=list)  # emitted so far
    completed: bool = False
    closed_at: float | None = None  # when it was cancelled or closed early


def llm_input_keys(chat_ctx: ChatContext) -> list[str]:
    """What a fake LLM answers: the text of the last item that is a user message, an instruction
    (system or developer message) or a tool output; for several trailing tool outputs (parallel
    calls), each of them, last first."""
    keys: list[str] = []
    for item in reversed(chat_ctx.items):
        if item.type == "function_call_output":
            keys.append(item.output)
            continue
        if keys:
            break
        if item.type == "message" and item.role != "assistant":
            return [item.text_content or ""]
    return keys


_WORD_RE = re.compile(r"(?<=\s)(?=\S)")


def _word_chunks(content: str, per_chunk: int) -> list[str]:
    """``content`` in groups of ``per_chunk`` words, whitespace kept, so they join back exactly."""
    words = [w for w in _WORD_RE.split(content) if w]
    return ["".join(words[i:i + per_chunk]) for i in range(0, len(words), per_chunk)]


def _word_count(text: str) -> int:
    return len(text.split())


class FakeLLM(LLM):
    """An LLM that streams the reply the script holds for its input."""

    label = "fake-llm"
    model = "fake"

    def __init__(self, script: Script, *, words_per_chunk: int = 2) -> None:
        self.script = script
        self.words_per_chunk = words_per_chunk
        self.calls: list[LLMCall] = []
        self._tool_calls = 0

    def chat(
        self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = (),
        tool_choice: ToolChoice = "auto",
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[ChatChunk]:
        now = asyncio.get_running_loop().time()
        keys = llm_input_keys(chat_ctx)
        reply = self.script.find_llm_reply(keys)
        # the items as they were (a new list; the items are shared, as in the contexts the
        # session builds, not deep-copied: a deep copy per call is O(history) per turn)
        seen = ChatContext.model_construct(items=list(chat_ctx.items))
        call = LLMCall(now, seen, tuple(tools), tool_choice,
                       keys[0] if keys else None, reply)
        self.calls.append(call)
        plan = self._plan(call, chat_ctx)
        fault = self.script.fault_for("llm", len(self.calls), now, plan[-1][0]) if plan else None
        times, hit = faulted(fault, [t for t, _ in plan], now)
        return self._run(call, list(zip(times, (c for _, c in plan), strict=True)),
                         None if hit is None or fault is None else (fault, *hit))

    def _plan(self, call: LLMCall, chat_ctx: ChatContext) -> list[tuple[float, ChatChunk]]:
        rid = f"fake-llm-{len(self.calls)}"
        prompt = sum(_word_count(i.text_content or "") for i in chat_ctx.items
                     if i.type == "message")
        reply = call.reply
        if reply is None:
            usage = TokenUsage(prompt_tokens=prompt)
            return [(call.time + DEFAULT_LLM_DURATION, ChatChunk(rid, usage=usage))]
        timed = [(call.time + t, ChatChunk(rid, delta=text)) for t, text in reply.chunks]
        pieces = [] if timed else [ChatChunk(rid, delta=text)
                                   for text in _word_chunks(reply.content, self.words_per_chunk)]
        for index, tc in enumerate(reply.tool_calls):
            self._tool_calls += 1
            call_id = tc.call_id or f"call_{self._tool_calls}"
            args = tc.arguments_json
            half = len(args) // 2  # two pieces, so the framework's joining is exercised
            pieces.append(ChatChunk(rid, tool_calls=(
                FunctionToolCallDelta(index, call_id, tc.name, args[:half]),)))
            pieces.append(ChatChunk(rid, tool_calls=(
                FunctionToolCallDelta(index, arguments=args[half:]),)))
        usage = TokenUsage(prompt, _word_count(reply.content) + len(reply.tool_calls))
        first, last = call.time + reply.ttft, call.time + reply.duration
        if not pieces and not timed:
            return [(last, ChatChunk(rid, usage=usage))]
        if timed:  # a recorded reply's pieces at their times, then its tool calls
            first = timed[-1][0]
        step = (last - first) / len(pieces) if pieces else 0.0
        plan = timed + [(first + i * step, chunk) for i, chunk in enumerate(pieces)]
        plan.append((last, ChatChunk(rid, usage=usage)))
        return plan

    async def _run(self, call: LLMCall, plan: list[tuple[float, ChatChunk]],
                   hit: tuple[ProviderFault, int, float] | None = None,
                   ) -> AsyncIterator[ChatChunk]:
        try:
            for i, (when, chunk) in enumerate(plan):
                if hit is not None and i == hit[1]:
                    await strike(hit[0], hit[2])
                await sleep_until(when)
                call.chunks.append(chunk)
                yield chunk
            if hit is not None and hit[1] >= len(plan):
                await strike(hit[0], hit[2])
            call.completed = True
        finally:
            if not call.completed:
                call.closed_at = asyncio.get_running_loop().time()


# -- TTS -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class TTSCall:
    """One synthesis: the text, when it was asked, what was scripted, and how it ended."""

    time: float
    text: str
    audio: TTSAudio | None
    chunks: int = 0  # audio chunks emitted so far
    completed: bool = False
    closed_at: float | None = None


class FakeTTS(TTS):
    """A TTS that voices text as the script says, as silence at ``sample_rate``.

    ``streaming=False`` (the default) declares a chunked TTS, so the framework's sentence
    splitter calls ``synthesize`` per sentence; ``stream()`` works either way, voicing each
    flushed piece of text as one segment. ``tone_hz`` voices a sine at that pitch (at a third of
    full scale) instead of silence, for a listener that checks the audio is there (a room
    participant measuring RMS).
    """

    label = "fake-tts"

    def __init__(self, script: Script, *, sample_rate: int = 24000,
                 frame_duration: float = 0.02, streaming: bool = False,
                 unscripted_audio: bool = True, tone_hz: float | None = None) -> None:
        super().__init__(TTSCapabilities(streaming=streaming), sample_rate)
        self.script = script
        self.frame_duration = frame_duration
        self.unscripted_audio = unscripted_audio
        self.tone_hz = tone_hz
        self.calls: list[TTSCall] = []
        self._frame_samples = round(frame_duration * sample_rate)
        self._zeros = np.zeros(self._frame_samples, dtype=np.int16)
        self._zeros.flags.writeable = False  # shared by every frame

    def audio_for(self, text: str) -> TTSAudio | None:
        """What ``synthesize(text)`` will produce (None: no audio)."""
        audio = self.script.find_tts_audio(text)
        if audio is None and self.unscripted_audio and normalize_text(text):
            audio = TTSAudio(text, len(normalize_text(text)) * SECONDS_PER_CHARACTER,
                             DEFAULT_TTS_TTFB, DEFAULT_TTS_DURATION)
        return audio

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        call = TTSCall(asyncio.get_running_loop().time(), text, self.audio_for(text))
        self.calls.append(call)
        return self._run(call, f"fake-tts-{len(self.calls)}", len(self.calls))

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> FakeSynthesizeStream:
        return FakeSynthesizeStream(self)

    def _frames(self, audio_duration: float) -> list[AudioFrame]:
        total = round(audio_duration * self.sample_rate)
        n = self._frame_samples
        tone = None if self.tone_hz is None else self._tone(total)
        frames = []
        for offset in range(0, total, n):
            if tone is not None:
                data = tone[offset:offset + n]
            else:
                data = self._zeros if offset + n <= total else self._zeros[: total - offset]
            frames.append(AudioFrame(data, self.sample_rate, 1, offset / self.sample_rate))
        return frames

    def _tone(self, samples: int) -> np.ndarray:
        assert self.tone_hz is not None
        t = np.arange(samples) / self.sample_rate
        return (np.sin(2 * np.pi * self.tone_hz * t) * (32767 / 3)).astype(np.int16)

    async def _run(self, call: TTSCall, segment_id: str, number: int = 0
                   ) -> AsyncIterator[SynthesizedAudio]:
        try:
            audio = call.audio
            if audio is None:
                call.completed = True
                return
            frames = self._frames(audio.audio_duration)
            first, last = call.time + audio.ttfb, call.time + audio.duration
            step = (last - first) / (len(frames) - 1) if len(frames) > 1 else 0.0
            times = [first + i * step for i in range(len(frames))]
            fault = self.script.fault_for("tts", number, call.time, last)
            times, hit = faulted(fault, times, call.time)
            if fault is not None and fault.kind == "slow_first":
                last += fault.delay
            for i, frame in enumerate(frames):
                if hit is not None and fault is not None and i == hit[0]:
                    await strike(fault, hit[1])
                await sleep_until(times[i])
                call.chunks += 1
                yield SynthesizedAudio(frame, call.text if i == 0 else "", segment_id,
                                       is_final=i == len(frames) - 1)
            if hit is not None and fault is not None and hit[0] >= len(frames):
                await strike(fault, hit[1])
            await sleep_until(last)
            call.completed = True
        finally:
            if not call.completed:
                call.closed_at = asyncio.get_running_loop().time()


class FakeSynthesizeStream(SynthesizeStream):
    """Voices each flushed piece of text in turn (the timing of each is measured from its flush)."""

    def __init__(self, tts: FakeTTS) -> None:
        self._tts = tts
        self._buffer: list[str] = []
        self._segments: asyncio.Queue[AsyncIterator[SynthesizedAudio] | None] = asyncio.Queue()
        self._ended = False

    def push_text(self, text: str) -> None:
        self._buffer.append(text)

    def flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        if normalize_text(text):
            self._segments.put_nowait(self._tts.synthesize(text))

    def end_input(self) -> None:
        if not self._ended:
            self.flush()
            self._ended = True
            self._segments.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[SynthesizedAudio]:
        while (segment := await self._segments.get()) is not None:
            async for chunk in segment:
                yield chunk

    async def aclose(self) -> None:
        self._ended = True
        self._segments.put_nowait(None)
