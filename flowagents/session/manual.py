"""``turn_detection="manual"``: the app says when the user's turn is over (LiveKit's names).

Push-to-talk and similar apps end the user's turn themselves: the voice graph commits none, and
``session.commit_user_turn()`` makes one of the final transcripts heard since the last commit (or
``clear_user_turn()``); ``session.interrupt()`` stops the agent as always. The turn is a spoken
turn like any other (its user message, ``on_user_turn_completed``, the reply).
"""

from __future__ import annotations

from flowagents.types import SpeechEvent, SpeechEventType
from flowagents.voice.turns import UserTurn

__all__ = ["ManualTurns"]


class ManualTurns:
    """The final transcripts of the turn in progress, until the app commits or clears it."""

    __slots__ = ("_finals", "_start")

    def __init__(self) -> None:
        self._finals: list[SpeechEvent] = []
        self._start: float | None = None

    def on_transcript(self, event: SpeechEvent) -> None:
        if event.type is SpeechEventType.FINAL_TRANSCRIPT and event.text.strip():
            if self._start is None:
                self._start = event.timestamp
            self._finals.append(event)

    def take(self, now: float) -> UserTurn | None:
        """The turn so far (None when nothing was said), and a fresh one begins."""
        finals, start = self._finals, self._start
        self.clear()
        if not finals or start is None:
            return None
        text = " ".join(e.text.strip() for e in finals)
        return UserTurn(text, start, finals[-1].timestamp, now, transcripts=tuple(finals))

    def clear(self) -> None:
        self._finals, self._start = [], None
