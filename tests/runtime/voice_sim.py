"""A simulated voice exchange for runtime tests: scripted speech, an energy VAD, a scripted STT.

Audio is 20 ms frames whose samples are loud inside the script's speech segments. The energy VAD
confirms speech after ``start_frames`` loud frames (dating START back to the first of them) and
its end after ``end_frames`` quiet ones (dating END back likewise). The STT counts the frames the
gate lets through per utterance and, ``latency`` seconds after the VAD's END, emits a FINAL
transcript "utterance N: K frames", either on a reactivex timer (pure Rx, runs under the
TestScheduler) or from a coroutine that sleeps (an async bridge, needs a loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

import numpy as np
import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, Graph, In, Node, NodeConfig, Out
from flowagents.runtime import from_async_iterable, from_coroutine
from flowagents.types import (
    AudioFrame,
    SpeechData,
    SpeechEvent,
    SpeechEventType,
    VADEvent,
    VADEventType,
)
from flowagents.voice.turns import UserTurn
from nodes.audio.gate import Gate
from nodes.reply.latest_reply import Reply
from nodes.turn.endpointing import Endpointing

RATE = 16000
SAMPLES = 320
FRAME = SAMPLES / RATE  # 20 ms
LOUD = 1000

_LOUD_FRAME = np.full(SAMPLES, LOUD, dtype=np.int16)
_QUIET_FRAME = np.zeros(SAMPLES, dtype=np.int16)


def frames(segments: list[tuple[float, float]], count: int) -> list[AudioFrame]:
    """``count`` frames from t=0; frame i is loud when its start lies in a segment [s, e)."""
    out = []
    for i in range(count):
        t = i * SAMPLES / RATE
        loud = any(s - 1e-9 <= t < e - 1e-9 for s, e in segments)
        out.append(AudioFrame(_LOUD_FRAME if loud else _QUIET_FRAME, RATE, 1, t))
    return out


def arrival(i: int) -> float:
    """Frame i is pushed when it is complete, at the end of its span."""
    return (i + 1) * SAMPLES / RATE


class EnergyVADConfig(NodeConfig):
    start_frames: int = 5
    end_frames: int = 10


class EnergyVAD(Node):
    inputs = (In("audio", AudioFrame),)
    outputs = (Out("events", VADEvent),)
    Config = EnergyVADConfig

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, EnergyVADConfig)
        audio = inputs["audio"]

        def subscribe(observer: abc.ObserverBase[VADEvent],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            speaking = False
            run = 0
            run_start = 0.0

            def on_next(frame: AudioFrame) -> None:
                nonlocal speaking, run, run_start
                if (int(frame.data[0]) >= LOUD // 2) != speaking:
                    if run == 0:
                        run_start = frame.timestamp
                    run += 1
                    if run >= (cfg.end_frames if speaking else cfg.start_frames):
                        speaking, run = not speaking, 0
                        kind = VADEventType.START_OF_SPEECH if speaking else \
                            VADEventType.END_OF_SPEECH
                        observer.on_next(VADEvent(kind, run_start, speaking=speaking))
                else:
                    run = 0

            return audio.subscribe(on_next, observer.on_error, observer.on_completed)

        return {"events": Observable(subscribe)}


class ScriptedSTTConfig(NodeConfig):
    latency: float = 0.25
    mode: Literal["timer", "async"] = "timer"


class ScriptedSTT(Node):
    inputs = (In("audio", AudioFrame), In("vad", VADEvent))
    outputs = (Out("transcripts", SpeechEvent),)
    Config = ScriptedSTTConfig

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ScriptedSTTConfig)
        audio, vad = inputs["audio"], inputs["vad"]

        def later(text: str) -> Observable[SpeechEvent]:
            def event() -> SpeechEvent:
                return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, ctx.now(),
                                   (SpeechData(text),))
            if cfg.mode == "timer":
                return reactivex.timer(cfg.latency, scheduler=ctx.scheduler).pipe(
                    ops.map(lambda _: event()))

            async def recognize() -> SpeechEvent:
                await asyncio.sleep(cfg.latency)
                return event()
            return from_coroutine(recognize, ctx.loop)

        def subscribe(observer: abc.ObserverBase[SpeechEvent],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            heard = 0
            utterances = 0
            pending = CompositeDisposable()

            def on_frame(_: AudioFrame) -> None:
                nonlocal heard
                heard += 1

            def on_vad(event: VADEvent) -> None:
                nonlocal heard, utterances
                if event.type is VADEventType.END_OF_SPEECH:
                    utterances += 1
                    text = f"utterance {utterances}: {heard} frames"
                    heard = 0
                    pending.add(later(text).subscribe(observer.on_next, observer.on_error))

            pending.add(vad.subscribe(on_vad, observer.on_error))
            pending.add(audio.subscribe(on_frame, observer.on_error))
            return pending

        return {"transcripts": Observable(subscribe)}


def token_reply(every: float, words: int, log: list[str] | None = None,
                ) -> Callable[[UserTurn], Observable[str]]:
    """A reply factory: an async generator saying ``words`` words, one every ``every`` s."""

    def make(turn: UserTurn) -> Observable[str]:
        async def tokens() -> AsyncIterator[str]:
            try:
                for k in range(words):
                    await asyncio.sleep(every)
                    yield f"{turn.transcript.split(':')[0]} word {k}"
            finally:
                if log is not None:
                    log.append(f"closed {turn.transcript.split(':')[0]}")

        return from_async_iterable(tokens)

    return make


def voice_graph(*, stt_mode: Literal["timer", "async"] = "timer", pre_roll: float = 0.51,
                reply: Callable[[UserTurn], Observable[Any]] | None = None) -> Graph:
    """audio -> energy VAD -> gate -> scripted STT -> endpointing [-> reply]."""
    with Graph("exchange") as g:
        audio = g.input("audio", AudioFrame)
        vad = EnergyVAD()(audio)
        speech = Gate(pre_roll=pre_roll)(audio, vad)
        text = ScriptedSTT(mode=stt_mode)(speech, vad)
        turns = Endpointing()(vad, text)
        g.output("turns", turns)
        if reply is not None:
            g.output("words", Reply(reply)(turns))
    return g
