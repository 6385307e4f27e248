"""VAD node: audio frames in, voice activity events out, one provider stream per job.

VAD inference is small and synchronous (see :mod:`flowagents.vad.vad`), so the node calls
``stream.process(frame)`` inline on the loop and forwards the events it returns. Completion of
the audio flushes the stream (a final END_OF_SPEECH) and closes it; so does disposal.

Given the agent's activity (the optional ``agent`` input), the node tells the stream when the
agent is busy (:meth:`~flowagents.vad.VADStream.alert`): a VAD that decides starts of speech late
in a long silence to save work (Silero's idle batching) decides them at once while the user may
barge in.

With a ``report_metrics`` resource (the session's), a :class:`~flowagents.metrics.VADMetrics` is
reported per ``metrics_interval`` (1.0 s) of audio, not per frame: the inference calls and their
total wall-clock time in that window, and ``idle_time``, the audio in it heard as silence. The
per-frame cost is two clock reads and a few additions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Out
from flowagents.graph.provider import ProviderNode, ProviderNodeConfig
from flowagents.metrics import VADMetrics
from flowagents.runtime.bridge import Dispose
from flowagents.types import AudioFrame, VADEvent, VADEventType
from flowagents.vad import VAD
from flowagents.voice.signals import AgentActivity

__all__ = ["VADNode", "VADNodeConfig", "vad_events"]


class _Window:
    """VAD metrics accumulated over one window of audio."""

    __slots__ = ("audio", "count", "idle", "inference", "speaking")

    def __init__(self) -> None:
        self.audio = self.idle = self.inference = 0.0
        self.count = 0
        self.speaking = False


def vad_events(vad: VAD, *, report: Callable[[VADMetrics], None] | None = None,
               metrics_interval: float = 1.0,
               activity: Observable[AgentActivity] | None = None) -> Any:
    """``audio.pipe(vad_events(vad))``: the VAD's events for the audio, in order; ``report``
    gets a :class:`VADMetrics` per ``metrics_interval`` seconds of audio; ``activity``: the
    stream is alerted while the agent is busy."""

    def _op(audio: Observable[AudioFrame]) -> Observable[VADEvent]:
        def subscribe(observer: abc.ObserverBase[VADEvent],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            stream = vad.stream()
            window = _Window()

            def on_frame(frame: AudioFrame) -> None:
                if report is None:
                    for event in stream.process(frame):
                        observer.on_next(event)
                    return
                started = time.perf_counter()
                events = stream.process(frame)
                w = window
                w.inference += time.perf_counter() - started
                w.count += 1
                duration = frame.duration
                w.audio += duration
                if not w.speaking:
                    w.idle += duration
                for event in events:
                    if event.type is VADEventType.START_OF_SPEECH:
                        w.speaking = True
                    elif event.type is VADEventType.END_OF_SPEECH:
                        w.speaking = False
                    observer.on_next(event)
                if w.audio >= metrics_interval - 1e-9:
                    report(VADMetrics(frame.end_time, label=vad.label, idle_time=w.idle,
                                      inference_duration_total=w.inference,
                                      inference_count=w.count))
                    w.audio = w.idle = w.inference = 0.0
                    w.count = 0

            def on_completed() -> None:
                for event in stream.flush():
                    observer.on_next(event)
                observer.on_completed()

            busy = False

            def on_activity(agent: AgentActivity) -> None:
                nonlocal busy
                if agent.busy is not busy:
                    busy = agent.busy
                    stream.alert(busy)

            subscriptions = CompositeDisposable(
                audio.subscribe(on_frame, observer.on_error, on_completed),
                Dispose(stream.close),
            )
            if activity is not None:
                subscriptions.add(activity.subscribe(on_activity))
            return subscriptions

        return Observable(subscribe)

    return _op


class VADNodeConfig(ProviderNodeConfig):
    metrics_interval: float = Field(1.0, gt=0.0, description="audio seconds per VADMetrics")


class VADNode(ProviderNode[VAD]):
    """Voice activity detection. Emits :class:`VADEvent` on ``events`` (and reports
    :class:`VADMetrics`, see the module docstring). The VAD is given, or the ``vad`` resource."""

    Config = VADNodeConfig
    provider_type = VAD
    resource = "vad"
    inputs = (In("audio", AudioFrame, doc="room audio"),
              In("agent", AgentActivity, required=False, doc="no delay while the agent is busy"))
    outputs = (Out("events", VADEvent, doc="VAD events"),)

    def default_name(self) -> str:
        return "vad"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, VADNodeConfig)
        op = vad_events(self.resolve_provider(ctx), report=ctx.resources.get("report_metrics"),
                        metrics_interval=cfg.metrics_interval, activity=inputs.get("agent"))
        return {"events": inputs["audio"].pipe(op)}
