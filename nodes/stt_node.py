"""STT node: the gated user audio in, interim and final transcripts out.

One streaming recognition per job: subscribing opens ``stt.stream()``, each frame is pushed as it
arrives, and the speech events are bridged back into the graph by
:func:`~flowagents.runtime.bridge.from_async_iterable`, so disposing the subscription cancels the
reading task and closes the provider stream (its connection or model call). A batch-only STT must
be wrapped in the STT stream adapter first. Each final transcript is also reported as an
:class:`~flowagents.metrics.STTMetrics` through the ``metrics`` resource when there is one.

With the optional ``agent`` input (the active agent), an agent that overrides ``stt_node`` gets
the stage while it is active: its ``stt_node(audio, model_settings)`` runs on the gated audio
(bridged to an async iterator) and its speech events (or plain strings, taken as final
transcripts) come out; a handoff to an agent with another stage switches to it (switch-latest:
the previous recognition is cancelled), agents that keep the default share one recognition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Out
from flowagents.graph.provider import ProviderNode
from flowagents.metrics import STTMetrics
from flowagents.runtime.bridge import from_async_iterable, to_async_iterator
from flowagents.runtime.scheduler import seconds
from flowagents.stt import STT
from flowagents.types import AudioFrame, SpeechData, SpeechEvent, SpeechEventType
from flowagents.voice.agent import Agent, ModelSettings
from flowagents.voice.signals import ActiveAgent

__all__ = ["STTNode", "agent_transcribe", "transcribe"]


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
    """``speech_audio.pipe(transcribe(stt, scheduler=s))``: the STT's speech events."""

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


class STTNode(ProviderNode[STT]):
    """Speech to text. Emits :class:`SpeechEvent` (interim and final) on ``transcripts``.
    The STT is given, or the ``stt`` resource."""

    provider_type = STT
    resource = "stt"
    inputs = (In("audio", AudioFrame), In("agent", ActiveAgent, required=False))
    outputs = (Out("transcripts", SpeechEvent),)

    def default_name(self) -> str:
        return "stt"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        report = ctx.resources.get("report_metrics")
        audio = inputs["audio"]
        default: Observable[SpeechEvent] = audio.pipe(
            transcribe(self.resolve_provider(ctx), scheduler=ctx.scheduler, loop=ctx.loop,
                       report=report))
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
