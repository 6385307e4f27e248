"""The user's turn: what endpointing commits and the reply side answers.

A vocabulary type, below the nodes that produce it (``nodes/turn/endpointing.py``) and the ones
that consume it (turn filter, turn detector, turn reply), so that none of them import another.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowagents.graph import register_type
from flowagents.types import SpeechEvent

__all__ = ["UserTurn"]


@dataclass(frozen=True, slots=True)
class UserTurn:
    """What the user said in one turn, and when.

    ``speech_start``: when the user started (the turn's first dated START_OF_SPEECH, or the first
    final transcript's arrival when the VAD heard nothing). ``speech_end``: when they stopped (the
    last dated END_OF_SPEECH, or the latest final transcript's arrival). ``committed_at``: when the
    turn was committed. ``transcripts``: the final transcripts, in arrival order; ``transcript``
    joins their texts with spaces. ``end_of_turn_probability``: the turn detector's last value.
    ``typed``: a text message (``session.push_text``), not speech.
    """

    transcript: str
    speech_start: float
    speech_end: float
    committed_at: float
    transcripts: tuple[SpeechEvent, ...] = ()
    end_of_turn_probability: float | None = None
    typed: bool = False

    @property
    def endpointing_delay(self) -> float:
        """How long after the user stopped the turn was committed."""
        return self.committed_at - self.speech_end


register_type(UserTurn)
