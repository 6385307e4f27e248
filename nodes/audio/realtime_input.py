"""Realtime input: the user's audio to a realtime model, and what it heard back as VAD and STT.

With a speech-to-speech model the model itself listens: its server VAD reports where speech
starts and stops (in seconds of the audio it got, dated here on the session clock from the first
frame sent) and it transcribes each user turn. This node sends the (24 kHz) audio to the job's
realtime session, gives it the active agent's instructions, context and tools, and turns its
reports into the VAD events and final transcripts that the rest of the graph (endpointing,
interruption, the turn reply) already understands. With ``own_vad`` the graph's VAD finds the
turns instead: the model's VAD is off and each end of speech on ``vad_events`` commits the
audio for transcription. Disposing the node's outputs ends the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.llm.realtime import RealtimeInput, realtime_link
from flowagents.runtime.bridge import from_async_iterable
from flowagents.types import (
    AudioFrame,
    SpeechData,
    SpeechEvent,
    SpeechEventType,
    VADEvent,
    VADEventType,
)
from flowagents.voice.signals import ActiveAgent

__all__ = ["RealtimeInputNode"]


class RealtimeInputConfig(NodeConfig):
    own_vad: bool = Field(False, description="the graph's VAD (on vad_events) finds the turns, "
                                             "not the model's")


class RealtimeInputNode(Node):
    """The realtime model's ears (see the module docstring)."""

    Config = RealtimeInputConfig
    kind = "provider"
    inputs = (In("audio", AudioFrame, doc="24 kHz audio"), In("agent", ActiveAgent),
              In("vad_events", VADEvent, required=False, doc="our VAD"))
    outputs = (Out("vad_events", VADEvent, doc="server VAD"),
               Out("transcripts", SpeechEvent, doc="user transcript"))

    def default_name(self) -> str:
        return "realtime_input"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        audio, agents = inputs["audio"], inputs["agent"]
        ours = inputs.get("vad_events")
        cfg = self.config
        assert isinstance(cfg, RealtimeInputConfig)
        own_vad = cfg.own_vad and ours is not None
        now = ctx.now

        def subscribe(observer: abc.ObserverBase[VADEvent | SpeechEvent],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            session = realtime_link(ctx.resources).session
            base: list[float] = []
            updates: set[asyncio.Task[None]] = set()

            def on_frame(frame: AudioFrame) -> None:
                if not base:
                    base.append(frame.timestamp)
                session.push_audio(frame)

            def on_agent(active: ActiveAgent) -> None:
                agent = active.agent
                task = asyncio.get_running_loop().create_task(session.update(
                    instructions=agent.instructions, chat_ctx=agent.chat_ctx,
                    tools=agent.tools, server_vad=not own_vad))
                updates.add(task)
                task.add_done_callback(updates.discard)

            async def heard() -> AsyncIterator[VADEvent | SpeechEvent]:
                try:
                    async for item in session.inputs():
                        yield _event(item, base[0] if base else 0.0, now())
                finally:
                    for task in list(updates):
                        task.cancel()
                    await session.aclose()

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.END_OF_SPEECH:
                    session.commit_audio()  # our VAD ended the turn: the model transcribes it

            # the agent and the audio are hot: take them from now, the model's reports after
            subscriptions = CompositeDisposable(agents.subscribe(on_agent),
                                                audio.subscribe(on_frame))
            if own_vad and ours is not None:
                subscriptions.add(ours.subscribe(on_vad))
            subscriptions.add(from_async_iterable(heard, ctx.loop).subscribe(observer))
            return subscriptions

        events: Observable[VADEvent | SpeechEvent] = Observable(subscribe).pipe(ops.share())
        return {
            "vad_events": events.pipe(ops.filter(lambda e: isinstance(e, VADEvent))),
            "transcripts": events.pipe(ops.filter(lambda e: isinstance(e, SpeechEvent))),
        }


def _event(item: RealtimeInput, base: float, now: float) -> VADEvent | SpeechEvent:
    if item.kind == "speech_started":
        return VADEvent(VADEventType.START_OF_SPEECH, base + item.time, speaking=True)
    if item.kind == "speech_stopped":
        return VADEvent(VADEventType.END_OF_SPEECH, base + item.time, speaking=False)
    return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, now,
                       (SpeechData(item.transcript, end_time=now),), item.item_id)
