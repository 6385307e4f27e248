"""Deaf gate: while a speech that must not be interrupted plays, STT hears nothing.

LiveKit Agents' ``discard_audio_if_uninterruptible`` (on by default): user audio that arrives while
a speech with ``allow_interruptions=False`` is in flight is dropped before transcription, so it
can neither interrupt nor make a turn (the VAD still hears it, so the user's state stays true).
``audio.pipe(deaf_gate(activity))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.types import AudioFrame
from flowagents.voice.options import default
from flowagents.voice.signals import AgentActivity

__all__ = ["DeafGate", "DeafGateConfig", "deaf_gate"]


class DeafGateConfig(NodeConfig):
    discard_audio_if_uninterruptible: bool = default("discard_audio_if_uninterruptible")


def deaf_gate(activity: Observable[AgentActivity]) -> Any:
    """Drop frames while the agent's speech in flight disallows interruptions."""

    def _op(audio: Observable[AudioFrame]) -> Observable[AudioFrame]:
        def subscribe(observer: abc.ObserverBase[AudioFrame],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            deaf = False

            def on_activity(agent: AgentActivity) -> None:
                nonlocal deaf
                deaf = agent.busy and not agent.allow_interruptions

            def on_frame(frame: AudioFrame) -> None:
                if not deaf:
                    observer.on_next(frame)

            return CompositeDisposable(
                activity.subscribe(on_activity, observer.on_error),
                audio.subscribe(on_frame, observer.on_error, observer.on_completed),
            )

        return Observable(subscribe)

    return _op


class DeafGate(Node):
    """Drops user audio during an uninterruptible speech (see the module docstring)."""

    Config = DeafGateConfig
    inputs = (In("audio", AudioFrame, doc="user speech"),
              In("activity", AgentActivity, doc="agent activity"))
    outputs = (Out("audio", AudioFrame, doc="speech heard"),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, DeafGateConfig)
        if not cfg.discard_audio_if_uninterruptible:
            return {"audio": inputs["audio"]}
        return {"audio": inputs["audio"].pipe(deaf_gate(inputs["activity"]))}
