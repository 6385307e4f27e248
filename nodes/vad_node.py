"""VAD node: audio frames in, voice activity events out, one provider stream per job.

VAD inference is small and synchronous (see :mod:`flowagents.vad.vad`), so the node calls
``stream.process(frame)`` inline on the loop and forwards the events it returns. Completion of
the audio flushes the stream (a final END_OF_SPEECH) and closes it; so does disposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.types import AudioFrame, VADEvent
from flowagents.vad import VAD

__all__ = ["VADNode", "vad_events"]


def vad_events(vad: VAD) -> Any:
    """``audio.pipe(vad_events(vad))``: the VAD's events for the audio, in order."""

    def _op(audio: Observable[AudioFrame]) -> Observable[VADEvent]:
        def subscribe(observer: abc.ObserverBase[VADEvent],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            stream = vad.stream()

            def on_frame(frame: AudioFrame) -> None:
                for event in stream.process(frame):
                    observer.on_next(event)

            def on_completed() -> None:
                for event in stream.flush():
                    observer.on_next(event)
                observer.on_completed()

            return CompositeDisposable(
                audio.subscribe(on_frame, observer.on_error, on_completed),
                Disposable(stream.close),
            )

        return Observable(subscribe)

    return _op


class VADNode(Node):
    """Voice activity detection. Emits :class:`VADEvent` on ``events``."""

    kind = "provider"
    inputs = (In("audio", AudioFrame),)
    outputs = (Out("events", VADEvent),)

    def __init__(self, vad: VAD, config: NodeConfig | None = None, *, name: str | None = None
                 ) -> None:
        super().__init__(config, name=name)
        self.vad = vad

    def default_name(self) -> str:
        return "vad"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        return {"events": inputs["audio"].pipe(vad_events(self.vad))}
