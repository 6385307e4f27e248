"""Not listening: where the VAD and the STT stand in a session that has no STT.

LiveKit Agents answers only text (``lk.chat``, ``generate_reply``) when a session has no STT; the
user's audio is not transcribed. This node takes the place of both so the rest of the voice
graph (turns, interruptions, replies) is unchanged: it drops the audio and emits no VAD event and
no transcript, and completes when the audio does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, In, Node, Out
from flowagents.types import AudioFrame, SpeechEvent, VADEvent

__all__ = ["NotListening"]


class NotListening(Node):
    """No VAD, no STT: ``vad_events`` and ``transcripts`` stay empty."""

    inputs = (In("audio", AudioFrame),)
    outputs = (Out("vad_events", VADEvent), Out("transcripts", SpeechEvent))

    def default_name(self) -> str:
        return "not_listening"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        nothing: Observable[Any] = inputs["audio"].pipe(ops.ignore_elements())
        return {"vad_events": nothing, "transcripts": nothing}
