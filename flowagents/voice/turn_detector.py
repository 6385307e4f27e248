"""Turn detector: the interface of a model that says whether the user is done with their turn.

VAD silence alone cannot tell "I want to order a..." (a pause to think) from "I want a pizza."
(done). A turn detector reads the chat context, whose last item is the user's transcript so far,
and returns the probability that the turn is over; below its ``unlikely_threshold`` the
endpointing node waits ``max_endpointing_delay`` instead of ``min_endpointing_delay``. Pass one as
``AgentSession(turn_detection=...)`` or ``Agent(turn_detection=...)``. Implementations:
:class:`nodes.turn.turn_detector.HeuristicTurnDetector` (offline, punctuation and trailing
words) and
:class:`flowagents.testing.ScriptedTurnDetector` (for tests).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from flowagents.llm import ChatContext

__all__ = ["TurnDetector"]


class TurnDetector(ABC):
    """End-of-turn prediction from the chat context (LiveKit's ``_TurnDetector``)."""

    unlikely_threshold: float = 0.5
    """A probability below this means the user is probably not done."""

    @abstractmethod
    async def predict_end_of_turn(self, chat_ctx: ChatContext) -> float:
        """The probability (0..1) that the user's turn, the last user message, is complete."""
