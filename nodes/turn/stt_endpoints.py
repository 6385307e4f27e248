"""STT speech boundaries: the STT's own start and end of speech, as the endpointing reads them.

``turn_detection="stt"`` (LiveKit's mode): the end of the user's turn comes from the STT (a
streaming STT such as Deepgram says when speech starts and when the utterance ended) instead of
the VAD. This node turns the STT's START_OF_SPEECH and END_OF_SPEECH events into the speech
boundaries the endpointing node takes, at the STT's timestamps; the final transcripts go to the
endpointing as before (a final transcript while the user is not speaking commits too, so an STT
that reports no boundaries still ends turns).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, In, Node, Out
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType

__all__ = ["STTEndpoints", "stt_boundaries"]

_BOUNDARIES = {SpeechEventType.START_OF_SPEECH: VADEventType.START_OF_SPEECH,
               SpeechEventType.END_OF_SPEECH: VADEventType.END_OF_SPEECH}


def _boundary(event: SpeechEvent) -> VADEvent:
    return VADEvent(_BOUNDARIES[event.type], event.timestamp,
                    speaking=event.type is SpeechEventType.START_OF_SPEECH)


def _is_boundary(event: SpeechEvent) -> bool:
    return event.type in _BOUNDARIES


def stt_boundaries(events: Observable[SpeechEvent]) -> Observable[VADEvent]:
    """The STT's start/end of speech as :class:`VADEvent` (the rest dropped)."""
    return events.pipe(ops.filter(_is_boundary), ops.map(_boundary))


class STTEndpoints(Node):
    """Emits the STT's speech boundaries on ``events`` (see the module docstring)."""

    inputs = (In("transcripts", SpeechEvent),)
    outputs = (Out("events", VADEvent, doc="the STT's start / end of speech"),)

    def default_name(self) -> str:
        return "stt_endpoints"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        return {"events": stt_boundaries(inputs["transcripts"])}
