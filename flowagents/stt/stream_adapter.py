"""Streaming STT from a batch STT: the VAD cuts speech segments, ``recognize`` transcribes each.

Batch engines (Whisper, most HTTP transcription APIs) take a whole utterance. The adapter runs
the VAD on each pushed frame (VAD inference is synchronous and cheap), collects the frames of a
speech segment, starting ``prefix_padding`` seconds before the VAD's start of speech (the
pre-roll, so the first syllable is not clipped), and when the VAD ends the segment transcribes it.
Events, per segment: START_OF_SPEECH (at the VAD's start), then FINAL_TRANSCRIPT (dated when the
transcript came back; skipped if nothing was said), then END_OF_SPEECH (dated at the VAD's end of
speech, emitted after the final so a consumer holds the transcript when the end arrives).
Segments are transcribed one at a time, in order, each retried under the connect options; a
segment's events never interleave with the next one's (a start waits for the previous end; its
timestamp still says when speech began).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.retry import call_with_retry
from flowagents.runtime.bridge import iterate_queue
from flowagents.types import AudioFrame, SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.vad import VAD, VADStream

from .stt import STT, SpeechStream, STTCapabilities

__all__ = ["StreamAdapter", "StreamAdapterStream"]


class StreamAdapter(STT):
    """A streaming STT over a batch ``stt``, segmented by ``vad``."""

    def __init__(self, stt: STT, vad: VAD) -> None:
        super().__init__(STTCapabilities(streaming=True, interim_results=False))
        self.stt = stt
        self.vad = vad
        self.label = f"{stt.label}(stream_adapter)"

    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        return await self.stt.recognize(frames, language=language, conn_options=conn_options)

    def stream(
        self, *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> StreamAdapterStream:
        return StreamAdapterStream(self, language, conn_options)

    async def aclose(self) -> None:
        await self.stt.aclose()


@dataclass(slots=True)
class _Segment:
    frames: list[AudioFrame]
    end: float


_END = object()


class StreamAdapterStream(SpeechStream):
    """The stream returned by :meth:`StreamAdapter.stream`. Must be created on a running loop."""

    def __init__(self, adapter: StreamAdapter, language: str | None,
                 conn_options: APIConnectOptions) -> None:
        self._adapter = adapter
        self._language = language
        self._conn_options = conn_options
        self._vad_stream: VADStream = adapter.vad.stream()
        opts = adapter.vad.options
        self._pre_roll = opts.prefix_padding
        # enough history for the pre-roll plus the speech the VAD needed to decide it started
        self._history_span = opts.prefix_padding + max(1.0, 4 * opts.min_speech_duration)
        self._history: deque[AudioFrame] = deque()
        self._segment: list[AudioFrame] | None = None
        self._input_ended = False
        self._segments: asyncio.Queue[_Segment | SpeechEvent | object] = asyncio.Queue()
        self._out: asyncio.Queue[SpeechEvent | BaseException | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._recognize_segments())

    def push_frame(self, frame: AudioFrame) -> None:
        if self._input_ended:
            raise RuntimeError("push_frame after end_input")
        if self._segment is not None:
            self._segment.append(frame)
        else:
            self._history.append(frame)
            while self._history and (
                self._history[0].end_time < frame.end_time - self._history_span
            ):
                self._history.popleft()
        self._handle(self._vad_stream.process(frame))

    def flush(self) -> None:
        """End the current segment now (transcribe what was heard) and start a fresh VAD."""
        if self._segment is not None:
            end = self._segment[-1].end_time if self._segment else 0.0
            self._end_segment(end)
        self._vad_stream.close()
        self._vad_stream = self._adapter.vad.stream()

    def end_input(self) -> None:
        if self._input_ended:
            return
        self._handle(self._vad_stream.flush())
        self.flush()
        self._vad_stream.close()
        self._input_ended = True
        self._segments.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[SpeechEvent]:
        async for item in iterate_queue(self._out):
            yield item

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._vad_stream.close()

    def _handle(self, events: Sequence[VADEvent]) -> None:
        for event in events:
            if event.type is VADEventType.START_OF_SPEECH and self._segment is None:
                start = event.timestamp - self._pre_roll
                self._segment = [f for f in self._history if f.end_time > start + 1e-9]
                self._history.clear()
                self._segments.put_nowait(SpeechEvent(SpeechEventType.START_OF_SPEECH,
                                                      event.timestamp))
            elif event.type is VADEventType.END_OF_SPEECH and self._segment is not None:
                self._end_segment(event.timestamp)

    def _end_segment(self, end: float) -> None:
        frames = self._segment or []
        self._segment = None
        self._segments.put_nowait(_Segment(frames, end))

    def _recognize_call(self, frames: list[AudioFrame]) -> Callable[[], Awaitable[SpeechEvent]]:
        stt = self._adapter.stt
        return lambda: stt.recognize(frames, language=self._language,
                                     conn_options=self._conn_options)

    async def _recognize_segments(self) -> None:
        stt = self._adapter.stt
        try:
            while (seg := await self._segments.get()) is not _END:
                if isinstance(seg, SpeechEvent):  # a start, in order after the previous end
                    self._out.put_nowait(seg)
                    continue
                assert isinstance(seg, _Segment)
                if seg.frames:
                    result = await call_with_retry(
                        self._recognize_call(seg.frames), conn_options=self._conn_options,
                        label=stt.label)
                    if result.text.strip():  # dated when the transcript became known
                        self._out.put_nowait(SpeechEvent(
                            SpeechEventType.FINAL_TRANSCRIPT, asyncio.get_running_loop().time(),
                            result.alternatives, result.request_id))
                self._out.put_nowait(SpeechEvent(SpeechEventType.END_OF_SPEECH, seg.end))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._out.put_nowait(e)
        finally:
            self._out.put_nowait(None)
