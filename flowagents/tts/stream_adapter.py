"""Streaming TTS from a batch TTS: split the pushed text into sentences, voice them in order.

LLM tokens arrive word by word, but most TTS engines voice whole texts. The adapter cuts the
stream into sentences (:class:`~flowagents.tokenize.SentenceStream`) and calls ``synthesize`` per
sentence. The next sentence is synthesized while the previous one's audio is still being emitted
(one sentence ahead, so a slow engine does not open unbounded work), and audio always comes out
in sentence order. ``flush()`` ends a segment: its last chunk has ``is_final``. A sentence is
retried (under the stream's connect options) only until its first chunk was delivered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.retry import retry_stream
from flowagents.runtime.bridge import iterate_queue
from flowagents.tokenize import SentenceStream
from flowagents.types import AudioFrame, SynthesizedAudio

from .tts import TTS, SynthesizeStream, TTSCapabilities

__all__ = ["StreamAdapter", "StreamAdapterStream"]


class StreamAdapter(TTS):
    """A streaming TTS over a batch ``tts``; ``sentence_tokenizer`` makes a fresh splitter."""

    def __init__(self, tts: TTS, sentence_tokenizer: Callable[[], SentenceStream] | None = None
                 ) -> None:
        super().__init__(TTSCapabilities(streaming=True), tts.sample_rate, tts.num_channels)
        self.tts = tts
        self.label = f"{tts.label}(stream_adapter)"
        self._tokenizer = sentence_tokenizer or SentenceStream

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        return self.tts.synthesize(text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> StreamAdapterStream:
        return StreamAdapterStream(self, self._tokenizer(), conn_options)

    async def aclose(self) -> None:
        await self.tts.aclose()


_SEGMENT_END = object()
_INPUT_END = object()


@dataclass(slots=True)
class _Sentence:
    """One sentence being synthesized: its chunks, then None (or the error) when it is done."""

    text: str
    segment_id: str
    chunks: asyncio.Queue[SynthesizedAudio | BaseException | None] = field(
        default_factory=asyncio.Queue)


_Item = _Sentence | object

AHEAD = 2
"""Sentences synthesizing at once: the one being emitted and the next."""


class StreamAdapterStream(SynthesizeStream):
    """The stream returned by :meth:`StreamAdapter.stream`. Must be created on a running loop."""

    def __init__(self, adapter: StreamAdapter, tokenizer: SentenceStream,
                 conn_options: APIConnectOptions) -> None:
        self._adapter = adapter
        self._tokenizer = tokenizer
        self._conn_options = conn_options
        self._segment_id = uuid.uuid4().hex[:12]
        self._input_ended = False
        self._waiting: deque[_Item] = deque()  # not started yet (at most AHEAD run at once)
        self._ordered: deque[_Item] = deque()  # started, in emission order
        self._in_flight = 0
        self._wakeup = asyncio.Event()
        self._open_segment: str | None = None  # audio emitted, final chunk not yet
        self._out: asyncio.Queue[SynthesizedAudio | BaseException | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._main = asyncio.get_running_loop().create_task(self._run())

    def push_text(self, text: str) -> None:
        if self._input_ended:
            raise RuntimeError("push_text after end_input")
        self._waiting.extend(_Sentence(s, self._segment_id) for s in self._tokenizer.push(text))
        self._pump()

    def flush(self) -> None:
        if self._input_ended:
            return
        self._waiting.extend(_Sentence(s, self._segment_id) for s in self._tokenizer.flush())
        self._waiting.append(_SEGMENT_END)
        self._segment_id = uuid.uuid4().hex[:12]
        self._pump()

    def end_input(self) -> None:
        if self._input_ended:
            return
        self.flush()
        self._input_ended = True
        self._waiting.append(_INPUT_END)
        self._pump()

    async def __aiter__(self) -> AsyncIterator[SynthesizedAudio]:
        async for item in iterate_queue(self._out):
            yield item

    async def aclose(self) -> None:
        tasks = [self._main, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _pump(self) -> None:
        """Start waiting sentences while fewer than AHEAD are in flight; markers pass through."""
        while self._waiting:
            item = self._waiting[0]
            if isinstance(item, _Sentence):
                if self._in_flight >= AHEAD:
                    break
                self._in_flight += 1
                task = asyncio.get_running_loop().create_task(self._synthesize(item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._ordered.append(self._waiting.popleft())
        self._wakeup.set()

    async def _synthesize(self, sentence: _Sentence) -> None:
        tts, opts = self._adapter.tts, self._conn_options
        try:
            async for chunk in retry_stream(
                lambda: tts.synthesize(sentence.text, conn_options=opts.once()),
                conn_options=opts, label=tts.label,
            ):
                sentence.chunks.put_nowait(chunk)
        except Exception as e:
            sentence.chunks.put_nowait(e)
            return
        sentence.chunks.put_nowait(None)

    async def _next(self) -> _Item:
        while not self._ordered:
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._ordered.popleft()

    async def _run(self) -> None:
        try:
            while (item := await self._next()) is not _INPUT_END:
                if isinstance(item, _Sentence):
                    await self._emit_sentence(item)
                    self._in_flight -= 1
                    self._pump()
                elif self._open_segment is not None:  # a segment ended after its audio
                    self._out.put_nowait(self._end_marker(self._open_segment))
                    self._open_segment = None
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._out.put_nowait(e)
        finally:
            self._out.put_nowait(None)

    async def _emit_sentence(self, sentence: _Sentence) -> None:
        first = True
        while (chunk := await sentence.chunks.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            ends = chunk.is_final and bool(self._ordered) and self._ordered[0] in (
                _SEGMENT_END, _INPUT_END)
            self._out.put_nowait(replace(
                chunk, segment_id=sentence.segment_id, text=sentence.text if first else "",
                is_final=ends))
            first = False
            self._open_segment = None if ends else sentence.segment_id

    def _end_marker(self, segment_id: str) -> SynthesizedAudio:
        """An empty final chunk: the segment's audio was all emitted before it was known to end."""
        frame = AudioFrame.silence(0.0, self._adapter.sample_rate, self._adapter.num_channels)
        return SynthesizedAudio(frame=frame, segment_id=segment_id, is_final=True)
