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

  **Speculative recognition** (``speculative_delay``, 0.2 s by default in the voice graph): the
  VAD's silence wait (0.55 s) would be dead time for a batch STT that starts at the END. Once
  the VAD's INFERENCE_DONE events report ``speculative_delay`` of silence inside an open
  segment, ``recognize`` starts on the frames held so far (pre-roll and all the speech; the
  silence after that point adds no words). If the silence is broken (an INFERENCE_DONE whose
  ``silence_duration`` went down: the VAD heard speech again and reset its silence count), the
  speculation is disposed (the call is cancelled and any late result dropped) and collecting
  goes on; a later silence may speculate again, one speculation in flight per segment at most.
  At the END, a speculation that survived covers every speech frame of the segment: its result
  is used (awaited if still running) instead of a second call; without one, ``recognize`` runs
  on the whole segment as before. The events are unchanged: START, FINAL, END, and the FINAL
  is never emitted before the VAD's END reaches this node. That is a choice: a final before
  the END could be contradicted by speech resuming in the same segment (the whole segment's
  final would repeat its words, and transcripts cannot be retracted), while holding it costs
  only the part of the silence wait a recognition would not fill anyway (Whisper here takes
  longer than the 0.35 s left of it), and endpointing cannot commit a turn before that END.
  With ``preflight`` (the voice graph sets it with preemptive generation), a speculation's
  result that comes back while the silence still holds is emitted at once as a
  PREFLIGHT_TRANSCRIPT (LiveKit's name), when every event before it has gone out: the reply
  can start on it about the rest of the silence wait sooner. It may be superseded (speech
  resuming makes the final say more); the FINAL still comes at the END.
  Speculation needs a VAD that reports INFERENCE_DONE events (Silero does, per 32 ms window);
  without them the node behaves exactly as with speculation disabled. An abandoned call may
  still finish in a provider's executor (Whisper's one thread; Whisper stops one after its
  encoder): its result is dropped, and the next call waits for that thread.

Each final transcript is also reported as an :class:`~flowagents.metrics.STTMetrics` through the
``metrics`` resource when there is one.

With the optional ``agent`` input (the active agent), an agent that overrides ``stt_node`` gets
the stage while it is active: its ``stt_node(audio, model_settings)`` runs on the gated audio
(bridged to an async iterator) and its speech events (or plain strings, taken as final
transcripts) come out; a handoff to an agent with another stage switches to it (switch-latest:
the previous recognition is cancelled), agents that keep the default share one recognition.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError
from flowagents.graph import BuildContext, In, Out
from flowagents.graph.errors import NodeError
from flowagents.graph.provider import ProviderNode, ProviderNodeConfig
from flowagents.metrics import STTMetrics
from flowagents.retry import call_with_retry
from flowagents.runtime.bridge import (
    Dispose,
    from_async_iterable,
    from_coroutine,
    to_async_iterator,
)
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
from flowagents.voice.options import default
from flowagents.voice.signals import ActiveAgent

__all__ = ["IDLE_BUFFER", "SPECULATIVE_DELAY", "STTNode", "STTNodeConfig", "agent_transcribe",
           "recognize_segments", "transcribe"]

IDLE_BUFFER = 2.0
"""Seconds of audio a batch recognition keeps between segments (newest frames): the gate's
pre-roll arrives there just before the START it belongs to. Bounds memory when the audio given
is not gated."""

SPECULATIVE_DELAY: float | None = default("speculative_stt_delay")
"""Default seconds of silence inside a segment before a batch STT recognizes speculatively
(the session's ``speculative_stt_delay``)."""

_VAD_START = VADEventType.START_OF_SPEECH
_VAD_END = VADEventType.END_OF_SPEECH
_VAD_INFERENCE = VADEventType.INFERENCE_DONE


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
               report: Callable[[STTMetrics], None] | None = None,
               on_error: Callable[[Exception], None] | None = None,
               conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> Any:
    """``speech_audio.pipe(transcribe(stt, scheduler=s))``: a streaming STT's speech events.

    A stream that fails with a retryable provider error is reported (``on_error``) and
    reopened ``conn_options.retry_interval`` later, up to ``max_retry`` failures in a row (an
    event in between resets the count): a dropped connection must not leave the agent deaf for
    the rest of the session. The audio of the wait is not heard."""

    def _op(audio: Observable[AudioFrame]) -> Observable[SpeechEvent]:
        def subscribe(observer: abc.ObserverBase[SpeechEvent],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            stream = stt.stream()
            heard = 0.0  # seconds of audio since the last final transcript

            async def events() -> AsyncIterator[SpeechEvent]:
                nonlocal stream
                failures = 0
                while True:
                    try:
                        async for event in stream:
                            failures = 0
                            yield event
                        return
                    except APIError as exc:
                        if not exc.retryable or failures >= conn_options.max_retry:
                            raise
                        failures += 1
                        if on_error is not None:
                            on_error(exc)
                    finally:
                        await stream.aclose()
                    await asyncio.sleep(conn_options.retry_interval)
                    stream = stt.stream()

            def on_event(event: SpeechEvent) -> None:
                nonlocal heard
                if event.type is SpeechEventType.FINAL_TRANSCRIPT and report is not None:
                    report(STTMetrics(seconds(scheduler), event.request_id, stt.label,
                                      audio_duration=heard, streamed=True))
                    heard = 0.0
                observer.on_next(event)

            def on_frame(frame: AudioFrame) -> None:
                nonlocal heard
                heard += frame.duration
                stream.push_frame(frame)

            results = from_async_iterable(events, loop).subscribe(
                on_event, observer.on_error, observer.on_completed)
            return CompositeDisposable(
                results, audio.subscribe(on_frame, observer.on_error, stream.end_input))

        return Observable(subscribe)

    return _op


class _Speculation:
    """One speculative ``recognize`` on an open segment's frames (see the module docstring)."""

    __slots__ = ("audio_duration", "done", "failed", "finished", "result", "started",
                 "subscription", "waiter")

    def __init__(self, audio_duration: float, started: float) -> None:
        self.audio_duration, self.started = audio_duration, started
        self.result: SpeechEvent | None = None
        self.finished = started  # when the result came back
        self.done = False
        self.failed = False
        self.subscription: abc.DisposableBase | None = None
        self.waiter: Callable[[], None] | None = None  # the drain waiting for this result

    def cancel(self) -> None:
        """Abandon the call: the task is cancelled and nothing it returns is delivered."""
        self.waiter = None
        if self.subscription is not None:
            self.subscription.dispose()
            self.subscription = None


@dataclass(slots=True)
class _Segment:
    """One VAD speech segment waiting for (or in) recognition."""

    frames: list[AudioFrame]
    end: float  # the VAD's (dated) end of speech
    speculation: _Speculation | None = None  # a recognition that covers all its speech


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
                 "open", "preflight", "queue", "report", "scheduler", "silence", "speculation",
                 "speculative_delay", "stt", "subscriptions")

    def __init__(self, stt: STT, observer: abc.ObserverBase[SpeechEvent],
                 scheduler: abc.SchedulerBase, loop: Any,
                 report: Callable[[STTMetrics], None] | None, idle_buffer: float,
                 speculative_delay: float | None = None, preflight: bool = False) -> None:
        self.stt, self.observer, self.scheduler, self.loop = stt, observer, scheduler, loop
        self.report, self.idle_buffer, self.preflight = report, idle_buffer, preflight
        self.speculative_delay = speculative_delay or None  # 0 disables, as None does
        self.buffer: deque[AudioFrame] = deque()
        self.open = False
        self.audio_done = False
        self.done = False
        self.queue: deque[SpeechEvent | _Segment] = deque()
        self.flight: abc.DisposableBase | None = None
        self.speculation: _Speculation | None = None  # on the open segment
        self.silence = 0.0  # the VAD's last silence_duration inside the open segment
        self.subscriptions = CompositeDisposable()

    # -- inputs ------------------------------------------------------------------------------
    def on_vad(self, event: VADEvent) -> None:
        kind = event.type
        if kind is _VAD_INFERENCE:
            if self.open and self.speculative_delay is not None:
                self._on_silence(event.silence_duration)
        elif kind is _VAD_START and not self.open:
            self.open = True
            self.silence = 0.0
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
        for item in self.queue:
            if isinstance(item, _Segment) and item.speculation is not None:
                item.speculation.cancel()
        self.queue.clear()
        self.buffer.clear()
        if self.speculation is not None:
            self.speculation.cancel()
            self.speculation = None
        if self.flight is not None:
            self.flight.dispose()  # cancels the recognize call in flight
            self.flight = None
        self.subscriptions.dispose()

    # -- speculation -------------------------------------------------------------------------
    def _on_silence(self, silence: float) -> None:
        """An INFERENCE_DONE inside the open segment: speculate once the silence is long enough,
        abandon the speculation when the VAD's silence count went down (speech again)."""
        delay = self.speculative_delay
        assert delay is not None
        resumed = silence < self.silence - 1e-9 or silence < delay - 1e-9
        self.silence = silence
        spec = self.speculation
        if spec is not None:
            if resumed:
                spec.cancel()
                self.speculation = None
        elif not resumed and self.buffer:
            self._speculate()

    def _speculate(self) -> None:
        stt = self.stt
        frames = _joined(list(self.buffer))
        spec = _Speculation(sum(f.duration for f in frames), seconds(self.scheduler))
        self.speculation = spec

        def call() -> Awaitable[SpeechEvent]:
            return call_with_retry(lambda: stt.recognize(frames), label=stt.label)

        def on_result(result: SpeechEvent) -> None:
            spec.result, spec.finished = result, seconds(self.scheduler)
            if (self.preflight and self.speculation is spec and self.flight is None
                    and not self.queue and result.text.strip()):
                self.observer.on_next(SpeechEvent(
                    SpeechEventType.PREFLIGHT_TRANSCRIPT, spec.finished, result.alternatives,
                    result.request_id))

        def on_error(_: Exception) -> None:  # a failed speculation: the END recognizes as usual
            spec.failed = True
            on_done()

        def on_done() -> None:
            spec.done = True
            spec.subscription = None
            waiter, spec.waiter = spec.waiter, None
            if waiter is not None:
                waiter()

        # from_coroutine delivers from a task, never during this call: the subscription is set
        # first; disposing it cancels the task, after which nothing is delivered
        spec.subscription = from_coroutine(call, self.loop).subscribe(on_result, on_error,
                                                                      on_done)

    # -- segments ----------------------------------------------------------------------------
    def _close(self, end: float) -> None:
        self.open = False
        frames = list(self.buffer)
        self.buffer.clear()
        spec, self.speculation = self.speculation, None
        self._enqueue(_Segment(frames, end, spec))

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
            elif item.speculation is not None:
                self._use_speculation(item, item.speculation)
            elif item.frames:
                self._recognize(item)
            else:  # the gate passed nothing (a deaf gate): nothing to recognize
                self.observer.on_next(SpeechEvent(SpeechEventType.END_OF_SPEECH, item.end))
        if self.flight is None and self.audio_done and not self.open and not self.done:
            self.done = True
            self.subscriptions.dispose()
            self.observer.on_completed()

    def _use_speculation(self, segment: _Segment, spec: _Speculation) -> None:
        """The segment's result is the speculation's: emit it now, or when it comes back."""
        if not spec.done:
            def resume() -> None:
                self.flight = None
                self._use_speculation(segment, spec)
                self._drain()

            spec.waiter = resume
            self.flight = Disposable(spec.cancel)
            return
        segment.speculation = None
        if spec.failed:
            self._recognize(segment)
            return
        if spec.result is not None:
            self._final(spec.result, spec.finished - spec.started, spec.audio_duration)
        self.observer.on_next(SpeechEvent(SpeechEventType.END_OF_SPEECH, segment.end))

    def _final(self, result: SpeechEvent, duration: float, audio_duration: float) -> None:
        """A recognition's result as a FINAL_TRANSCRIPT (none when it has no words)."""
        if not result.text.strip():
            return
        now = seconds(self.scheduler)
        if self.report is not None:
            self.report(STTMetrics(now, result.request_id, self.stt.label, duration=duration,
                                   audio_duration=audio_duration))
        self.observer.on_next(SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, now,
                                          result.alternatives, result.request_id))

    def _recognize(self, segment: _Segment) -> None:
        stt = self.stt
        frames = _joined(segment.frames)
        audio_duration = sum(f.duration for f in frames)
        started = seconds(self.scheduler)

        def call() -> Awaitable[SpeechEvent]:
            return call_with_retry(lambda: stt.recognize(frames), label=stt.label)

        def on_result(result: SpeechEvent) -> None:
            self._final(result, seconds(self.scheduler) - started, audio_duration)

        def on_done() -> None:
            self.flight = None
            self.observer.on_next(SpeechEvent(SpeechEventType.END_OF_SPEECH, segment.end))
            self._drain()

        # from_coroutine delivers from a task, never during this call: self.flight is set first
        self.flight = from_coroutine(call, self.loop).subscribe(on_result, self.on_error, on_done)


def recognize_segments(stt: STT, vad_events: Observable[VADEvent], *,
                       scheduler: abc.SchedulerBase, loop: Any = None,
                       report: Callable[[STTMetrics], None] | None = None,
                       idle_buffer: float = IDLE_BUFFER,
                       speculative_delay: float | None = None, preflight: bool = False) -> Any:
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

    ``speculative_delay`` (seconds; None or 0: off): recognize during the VAD's silence wait, as
    the module docstring says; the events and their order are the same, the FINAL comes at
    the END (or when the speculation's result does, if later). A failed speculation is not an
    error: the END recognizes the segment as without one. ``preflight``: a speculation's
    result is also emitted as a PREFLIGHT_TRANSCRIPT as soon as it comes back inside the
    silence (see the module docstring).
    """

    def _op(audio: Observable[AudioFrame]) -> Observable[SpeechEvent]:
        def subscribe(observer: abc.ObserverBase[SpeechEvent],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state = _BatchRecognition(stt, observer, scheduler, loop, report, idle_buffer,
                                      speculative_delay, preflight)
            state.subscriptions.add(vad_events.subscribe(state.on_vad, state.on_error))
            state.subscriptions.add(
                audio.subscribe(state.on_frame, state.on_error, state.on_audio_completed))
            return Dispose(state.dispose)

        return Observable(subscribe)

    return _op


class STTNodeConfig(ProviderNodeConfig):
    speculative_delay: float | None = Field(
        SPECULATIVE_DELAY, ge=0.0,
        description="batch STT: seconds of silence inside a VAD segment after which recognize "
                    "starts on the speech so far (None or 0: only at the VAD's end)")
    preflight: bool = Field(
        False, description="batch STT: emit a speculation's result at once as a preflight "
                           "transcript (for preemptive generation)")


class STTNode(ProviderNode[STT]):
    """Speech to text. Emits :class:`SpeechEvent` (interim and final) on ``transcripts``.
    The STT is given, or the ``stt`` resource. ``vad``: the session VAD's events, which
    delimit the segments a batch STT recognizes (required for a batch STT, unused by a
    streaming one). ``speculative_delay``: see the module docstring."""

    Config = STTNodeConfig
    provider_type = STT
    resource = "stt"
    inputs = (In("audio", AudioFrame, doc="speech heard"),
              In("agent", ActiveAgent, required=False, doc="active agent (stt_node)"),
              In("vad", VADEvent, required=False, doc="segment ended"))
    outputs = (Out("transcripts", SpeechEvent, doc="transcripts"),)

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
            def reopened(exc: Exception) -> None:  # an error event; the stream goes on
                ctx.report_error(NodeError(ctx.node, "transcripts", exc))

            default = audio.pipe(transcribe(stt, scheduler=ctx.scheduler, loop=ctx.loop,
                                            report=report, on_error=reopened))
        elif vad is not None:
            cfg = self.config
            assert isinstance(cfg, STTNodeConfig)
            default = audio.pipe(recognize_segments(
                stt, vad, scheduler=ctx.scheduler, loop=ctx.loop, report=report,
                speculative_delay=cfg.speculative_delay, preflight=cfg.preflight))
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
