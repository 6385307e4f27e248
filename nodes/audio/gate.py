"""VAD gate: let audio through only while the user speaks, plus a short pre-roll before speech.

STT should hear the user and not the room's silence (it costs money and invites hallucinated
words), but it must hear the start of each utterance, which the VAD only confirms after the fact:
a START_OF_SPEECH event arrives after the frames that decided it and is dated back to when speech
began. So the gate keeps a bounded ring of recent frame *references* while the user is silent and,
when speech starts, releases the ones that reach into ``[start - pre_roll, ...)`` before passing
live audio. ``audio.pipe(gate(vad_events, pre_roll=0.5))`` reads as the rule it implements.

Exactly which frames pass (frames are never copied, reordered or duplicated):

* a frame that *arrives* while the gate is open (after a START_OF_SPEECH event arrived and before
  the matching END_OF_SPEECH event arrived) passes at once; this includes the trailing silence the
  VAD listened to before it dated the end of speech back, which helps STT finalize;
* when a START_OF_SPEECH event dated ``start`` arrives, every buffered frame (one that arrived
  while the gate was closed, since it last closed) whose span ``[timestamp, end_time)`` intersects
  ``[start - pre_roll, +inf)``, that is ``end_time > start - pre_roll``, passes, oldest first;
* every other frame is dropped.

The ring holds frames whose end lies within ``pre_roll + lookback`` seconds of the newest buffered
frame's end: ``lookback`` bounds how far behind the newest audio a START_OF_SPEECH may be dated
(VAD latency plus its minimum speech duration). Events and frames are handled in arrival order;
a START that arrives with a frame "at the same time" sees only the frames that arrived before it.
In a graph where the VAD reads the same audio, the runtime hands each frame to the VAD first
(fan-out follows topological order), so the frame on which the VAD decides START passes live and
the frame on which it decides END is held back (it is buffered as possible pre-roll).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.types import AudioFrame, VADEvent, VADEventType
from flowagents.voice.options import default

__all__ = ["Gate", "GateConfig", "gate"]

_START = VADEventType.START_OF_SPEECH
_END = VADEventType.END_OF_SPEECH


def gate(
    vad_events: Observable[VADEvent], pre_roll: float = 0.5, *, lookback: float = 1.0
) -> Callable[[Observable[AudioFrame]], Observable[AudioFrame]]:
    """Pass the audio frames that are inside speech plus ``pre_roll`` seconds before it.

    ``vad_events`` decides; INFERENCE_DONE events are ignored, and so are a START while open and
    an END while closed. The result completes or fails with the audio; a completed VAD stream
    leaves the gate in its last state. See the module docstring for the exact frame set.
    """
    if pre_roll < 0 or lookback < 0:
        raise ValueError("pre_roll and lookback must be >= 0")
    horizon = pre_roll + lookback

    def _gate(audio: Observable[AudioFrame]) -> Observable[AudioFrame]:
        def subscribe(observer: abc.ObserverBase[AudioFrame],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            # the ring, oldest first, as two deques (frames and their end times) rather than
            # one of pairs: a silent session holds ``horizon`` seconds of frames, a pair each
            frames: deque[AudioFrame] = deque()
            ends: deque[float] = deque()
            is_open = False

            def on_vad(event: VADEvent) -> None:
                nonlocal is_open
                kind = event.type
                if kind is _START and not is_open:
                    is_open = True
                    earliest = event.timestamp - pre_roll
                    released = [frame for end, frame in zip(ends, frames, strict=True)
                                if end > earliest]
                    frames.clear()
                    ends.clear()
                    for frame in released:
                        observer.on_next(frame)
                elif kind is _END and is_open:
                    is_open = False

            def on_audio(frame: AudioFrame) -> None:
                if is_open:
                    observer.on_next(frame)
                    return
                end = frame.end_time  # once per frame: the ring keeps it beside the frame
                frames.append(frame)
                ends.append(end)
                keep_after = end - horizon
                while ends and ends[0] <= keep_after:
                    ends.popleft()
                    frames.popleft()

            return CompositeDisposable(
                vad_events.subscribe(on_vad, observer.on_error),
                audio.subscribe(on_audio, observer.on_error, observer.on_completed),
            )

        return Observable(subscribe)

    return _gate


class GateConfig(NodeConfig):
    """Seconds of audio kept before speech, and how late a START_OF_SPEECH may be dated back."""

    pre_roll: float = Field(default("pre_roll"), ge=0.0,
                            description="audio kept before the dated speech start")
    lookback: float = Field(
        1.0, ge=0.0,
        description="how far behind the newest frame a START_OF_SPEECH may be dated (VAD delay)",
    )


class Gate(Node):
    """VAD gate (see :func:`gate`). Emits on ``audio`` the frames inside speech plus pre-roll."""

    Config = GateConfig
    inputs = (In("audio", AudioFrame, doc="room audio"),
              In("vad", VADEvent, doc="speech started / ended"))
    outputs = (Out("audio", AudioFrame, doc="speech + pre-roll"),)

    shows = ("pre_roll",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, GateConfig)
        op = gate(inputs["vad"], cfg.pre_roll, lookback=cfg.lookback)
        return {"audio": inputs["audio"].pipe(op)}
