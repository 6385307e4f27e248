"""STT node: the gated user audio in, interim and final transcripts out.

Two paths, chosen by the STT's ``capabilities.streaming``:

* **Streaming STT**: one streaming recognition per job. Subscribing opens ``stt.stream()``, each
  frame is pushed as it arrives, and the speech events are bridged back into the graph by
  :func:`~flowagents.runtime.bridge.from_async_iterable`, so disposing the subscription cancels
  the reading task and closes the provider stream (its connection or model call).
* **Batch STT** (Whisper, most HTTP transcription APIs): the session's own VAD delimits the
  segments (the ``vad`` input: the same events that open and close the gate), so there is no
  second VAD and no second silence wait. The node keeps references to the gated frames of a
  segment (the gate's pre-roll included: the gate releases it just before the START reaches
  this node, so frames that arrive between two segments belong to the next one) and, on the
  VAD's END_OF_SPEECH, joins them into one frame (one ``numpy.concatenate``) and calls
  ``stt.recognize`` once, bridged by :func:`~flowagents.runtime.bridge.from_coroutine` so that
  disposal cancels the call in flight. See :func:`recognize_segments` for the events.

Each final transcript is also reported as an :class:`~flowagents.metrics.STTMetrics` through the
``metrics`` resource when there is one.

With the optional ``agent`` input (the active agent), an agent that overrides ``stt_node`` gets
the stage while it is active: its ``stt_node(audio, model_settings)`` runs on the gated audio
(bridged to an async iterator) and its speech events (or plain strings, taken as final
transcripts) come out; a handoff to an agent with another stage switches to it (switch-latest:
the previous recognition is cancelled), agents that keep the default share one recognition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.graph import BuildContext, In, Out
from flowagents.graph.provider import ProviderNode
from flowagents.metrics import STTMetrics
from flowagents.retry import call_with_retry
from flowagents.runtime.bridge import from_async_iterable, from_coroutine, to_async_iterator
from flowagents.runtime.scheduler import seconds
from flowagents.stt import STT
from flowagents.types import (
    AudioFrame,
    SpeechData,
    SpeechEvent,
    SpeechEventType,
    VADEvent,
    VADEventType,
)
from flowagents.voice.agent import Agent, ModelSettings
from flowagents.voice.signals import ActiveAgent

__all__ = ["IDLE_BUFFER", "STTNode", "agent_transcribe", "recognize_segments", "transcribe"]

IDLE_BUFFER = 2.0
"""Seconds of audio a batch recognition keeps between segments (newest frames): the gate's
pre-roll arrives there just before the START it belongs to. Bounds memory when the audio given
is not gated."""

_VAD_START = VADEventType.START_OF_SPEECH
_VAD_END = VADEventType.END_OF_SPEECH


def _stage(active: ActiveAgent) -> Agent | None:
    """The agent whose ``stt_node`` is overridden, or None for the default stage."""
    agent = active.agent
    return agent if type(agent).stt_node is not Agent.stt_node else None


def agent_transcribe(agent: Agent, *, loop: Any = None) -> Any:
    """``speech_audio.pipe(agent_transcribe(agent))``: the events of ``agent.stt_node``."""

    def _op(audio: Observable[AudioFrame]) -> Observable[SpeechEvent]:
        async def events() -> AsyncIterator[SpeechEvent]:
            async for item in agent.stt_node(to_async_iterator(audio), ModelSettings()):
                if isinstance(item, str):
                    if item:
                        yield SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT,
                                          alternatives=(SpeechData(item),))
                else:
                    yield item

        return from_async_iterable(events, loop)

    return _op


def transcribe(stt: STT, *, scheduler: abc.SchedulerBase, loop: Any = None,
               report: Callable[[STTMetrics], None] | None = None) -> Any:
    """``speech_audio.pipe(transcribe(stt, scheduler=s))``: a streaming STT's speech events."""

    def _op(audio: Observable[AudioFrame]) -> Observable[SpeechEvent]:
        def subscribe(observer: abc.ObserverBase[SpeechEvent],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            stream = stt.stream()
            heard = [0.0]

            async def events() -> AsyncIterator[SpeechEvent]:
                try:
                    async for event in stream:
                        yield event
                finally:
                    await stream.aclose()

            def on_event(event: SpeechEvent) -> None:
                if event.type is SpeechEventType.FINAL_TRANSCRIPT and report is not None:
                    report(STTMetrics(seconds(scheduler), event.request_id, stt.label,
                                      audio_duration=heard[0], streamed=True))
                    heard[0] = 0.0
                observer.on_next(event)

            def on_frame(frame: AudioFrame) -> None:
                heard[0] += frame.duration
                stream.push_frame(frame)

            results = from_async_iterable(events, loop).subscribe(
                on_event, observer.on_error, observer.on_completed)
            return CompositeDisposable(
                results, audio.subscribe(on_frame, observer.on_error, stream.end_input))

        return Observable(subscribe)

    return _op


@dataclass(slots=True)
class _Segment:
    """One VAD speech segment waiting for (or in) recognition."""

    frames: list[AudioFrame]
    end: float  # the VAD's (dated) end of speech


def _joined(frames: Sequence[AudioFrame]) -> Sequence[AudioFrame]:
    """The segment as one frame (one copy of the samples), dated at its first frame; frames of
    mixed formats are passed as they are."""
    first = frames[0]
    if len(frames) == 1:
        return (first,)
    rate, channels = first.sample_rate, first.num_channels
    for f in frames:
        if f.sample_rate != rate or f.num_channels != channels:
            return frames
    return (AudioFrame(np.concatenate([f.data for f in frames]), rate, channels,
                       first.timestamp),)


class _BatchRecognition:
    """The state of one :func:`recognize_segments` subscription (see its docstring)."""

    __slots__ = ("audio_done", "buffer", "done", "flight", "idle_buffer", "loop", "observer",
                 "open", "queue", "report", "scheduler", "stt", "subscriptions")

    def __init__(self, stt: STT, observer: abc.ObserverBase[SpeechEvent],
                 scheduler: abc.SchedulerBase, loop: Any,
                 report: Callable[[STTMetrics], None] | None, idle_buffer: float) -> None:
        self.stt, self.observer, self.scheduler, self.loop = stt, observer, scheduler, loop
        self.report, self.idle_buffer = report, idle_buffer
        self.buffer: deque[AudioFrame] = deque()
        self.open = False
        self.audio_done = False
        self.done = False
        self.queue: deque[SpeechEvent | _Segment] = deque()
        self.flight: abc.DisposableBase | None = None
        self.subscriptions = CompositeDisposable()

    # -- inputs ------------------------------------------------------------------------------
    def on_vad(self, event: VADEvent) -> None:
        kind = event.type
        if kind is _VAD_START and not self.open:
            self.open = True
            self._enqueue(SpeechEvent(SpeechEventType.START_OF_SPEECH, event.timestamp))
        elif kind is _VAD_END:
            if self.open:
                self._close(event.timestamp)
            else:  # a segment that started before this subscription: its frames are not whole
                self.buffer.clear()

    def on_frame(self, frame: AudioFrame) -> None:
        buffer = self.buffer
        buffer.append(frame)
        if not self.open:
            keep_after = frame.end_time - self.idle_buffer
            while buffer and buffer[0].end_time <= keep_after:
                buffer.popleft()

    def on_audio_completed(self) -> None:
        self.audio_done = True
        if self.open:  # the audio ended inside speech: recognize what was heard
            self._close(self.buffer[-1].end_time if self.buffer else seconds(self.scheduler))
        self._drain()

    def on_error(self, exc: Exception) -> None:
        self.done = True
        self.dispose()
        self.observer.on_error(exc)

    def dispose(self) -> None:
        self.queue.clear()
        self.buffer.clear()
        if self.flight is not None:
            self.flight.dispose()  # cancels the recognize call in flight
            self.flight = None
        self.subscriptions.dispose()

    # -- segments ----------------------------------------------------------------------------
    def _close(self, end: float) -> None:
        self.open = False
        frames = list(self.buffer)
        self.buffer.clear()
        self._enqueue(_Segment(frames, end))

    def _enqueue(self, item: SpeechEvent | _Segment) -> None:
        self.queue.append(item)
        self._drain()

    def _drain(self) -> None:
        """Emit queued events in order; one recognition at a time."""
        queue = self.queue
        while self.flight is None and queue:
            item = queue.popleft()
            if isinstance(item, SpeechEvent):
                self.observer.on_next(item)
            elif item.frames:
                self._recognize(item)
            else:  # the gate passed nothing (a deaf gate): nothing to recognize
                self.observer.on_next(SpeechEvent(SpeechEventType.END_OF_SPEECH, item.end))
        if self.flight is None and self.audio_done and not self.open and not self.done:
            self.done = True
            self.subscriptions.dispose()
            self.observer.on_completed()

    def _recognize(self, segment: _Segment) -> None:
        stt = self.stt
        frames = _joined(segment.frames)
        audio_duration = sum(f.duration for f in frames)
        started = seconds(self.scheduler)

        def call() -> Awaitable[SpeechEvent]:
            return call_with_retry(lambda: stt.recognize(frames), label=stt.label)

        def on_result(result: SpeechEvent) -> None:
            if not result.text.strip():
                return
            now = seconds(self.scheduler)
            if self.report is not None:
                self.report(STTMetrics(now, result.request_id, stt.label,
                                       duration=now - started, audio_duration=audio_duration))
            self.observer.on_next(SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, now,
                                              result.alternatives, result.request_id))

        def on_done() -> None:
            self.flight = None
            self.observer.on_next(SpeechEvent(SpeechEventType.END_OF_SPEECH, segment.end))
            self._drain()

        # from_coroutine delivers from a task, never during this call: self.flight is set first
        self.flight = from_coroutine(call, self.loop).subscribe(on_result, self.on_error, on_done)


def recognize_segments(stt: STT, vad_events: Observable[VADEvent], *,
                       scheduler: abc.SchedulerBase, loop: Any = None,
                       report: Callable[[STTMetrics], None] | None = None,
                       idle_buffer: float = IDLE_BUFFER) -> Any:
    """``gated_audio.pipe(recognize_segments(stt, vad_events, scheduler=s))``: a batch STT on
    the VAD's speech segments.

    Per VAD segment (its START_OF_SPEECH .. END_OF_SPEECH; a repeated START is ignored, and an END
    without a START drops the frames held, as the tail of a segment this subscription did not see
    start):
    START_OF_SPEECH dated at the VAD's start; then, when the END arrives, ``stt.recognize`` on the
    frames received since the previous segment ended (the gate's pre-roll and the speech), once,
    under the default connect options (retries, timeout); a FINAL_TRANSCRIPT dated when the
    result came back, skipped when it has no words; then END_OF_SPEECH dated at the VAD's end
    (after the final, so a consumer holds the transcript when the end arrives). Segments are
    recognized one at a time, in order, and a segment's events never interleave with the next
    one's. Audio completing inside speech ends that segment at its last frame; the output
    completes once the audio has completed and the last recognition is done. Disposal cancels
    the recognition in flight; a failed recognition is the output's error.
    """

    def _op(audio: Observable[AudioFrame]) -> Observable[SpeechEvent]:
        def subscribe(observer: abc.ObserverBase[SpeechEvent],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state = _BatchRecognition(stt, observer, scheduler, loop, report, idle_buffer)
            state.subscriptions.add(vad_events.subscribe(state.on_vad, state.on_error))
            state.subscriptions.add(
                audio.subscribe(state.on_frame, state.on_error, state.on_audio_completed))
            return Disposable(state.dispose)

        return Observable(subscribe)

    return _op


class STTNode(ProviderNode[STT]):
    """Speech to text. Emits :class:`SpeechEvent` (interim and final) on ``transcripts``.
    The STT is given, or the ``stt`` resource. ``vad``: the session VAD's events, which
    delimit the segments a batch STT recognizes (required for a batch STT, unused by a
    streaming one)."""

    provider_type = STT
    resource = "stt"
    inputs = (In("audio", AudioFrame), In("agent", ActiveAgent, required=False),
              In("vad", VADEvent, required=False))
    outputs = (Out("transcripts", SpeechEvent),)

    def default_name(self) -> str:
        return "stt"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        report = ctx.resources.get("report_metrics")
        audio = inputs["audio"]
        stt = self.resolve_provider(ctx)
        vad = inputs.get("vad")
        default: Observable[SpeechEvent]
        if stt.capabilities.streaming:
            default = audio.pipe(transcribe(stt, scheduler=ctx.scheduler, loop=ctx.loop,
                                            report=report))
        elif vad is not None:
            default = audio.pipe(recognize_segments(stt, vad, scheduler=ctx.scheduler,
                                                    loop=ctx.loop, report=report))
        else:
            raise TypeError(
                f"{type(stt).__name__} is a batch STT: connect the STT node's 'vad' input (the "
                "voice graph does) or wrap it in flowagents.stt.StreamAdapter")
        agents = inputs.get("agent")
        if agents is None:
            return {"transcripts": default}

        def stage(agent: Agent | None) -> Observable[SpeechEvent]:
            if agent is None:
                return default
            overridden: Observable[SpeechEvent] = audio.pipe(
                agent_transcribe(agent, loop=ctx.loop))
            return overridden

        keys: Observable[Agent | None] = agents.pipe(ops.map(_stage),
                                                     ops.distinct_until_changed())
        stages: Observable[Observable[SpeechEvent]] = keys.pipe(ops.map(stage))
        return {"transcripts": stages.pipe(ops.switch_latest())}
