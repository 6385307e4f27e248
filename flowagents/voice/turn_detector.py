"""Turn detector: the interface of a model that says whether the user is done with their turn.

VAD silence alone cannot tell "I want to order a..." (a pause to think) from "I want a pizza."
(done). A turn detector reads the chat context, whose last item is the user's transcript so far,
and returns the probability that the turn is over; below its ``unlikely_threshold`` the
endpointing node waits ``max_endpointing_delay`` instead of ``min_endpointing_delay``. Pass one as
``AgentSession(turn_detection=...)`` or ``Agent(turn_detection=...)``. Implementations:
:class:`HeuristicTurnDetector` (offline, punctuation and trailing words; here beside the
interface, so an option set such as ``flowagents.plugins.local.SESSION_OPTIONS`` can name it) and
:class:`flowagents.testing.ScriptedTurnDetector` (for tests).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from flowagents.llm import ChatContext

__all__ = ["HeuristicTurnDetector", "TurnDetector"]


class TurnDetector(ABC):
    """End-of-turn prediction from the chat context (LiveKit's ``_TurnDetector``)."""

    unlikely_threshold: float = 0.5
    """A probability below this means the user is probably not done."""

    @abstractmethod
    async def predict_end_of_turn(self, chat_ctx: ChatContext) -> float:
        """The probability (0..1) that the user's turn, the last user message, is complete."""


_CONTINUATIONS = frozenset({
    "a", "an", "and", "as", "at", "because", "but", "by", "for", "from", "if", "in", "into",
    "like", "my", "of", "on", "or", "so", "than", "that", "the", "then", "to", "uh", "um",
    "which", "who", "with", "your",
})


class HeuristicTurnDetector(TurnDetector):
    """End of turn from punctuation and the last word (a heuristic, not a model; see the module
    docstring). Scores: a trailing ellipsis, comma, colon, semicolon or dash 0.05; a trailing
    conjunction, article or preposition 0.15, with or without final punctuation after it (a
    batch STT such as Whisper writes "What's the temperature in?" for a pause mid-phrase);
    final punctuation (. ! ?) 0.9; anything else 0.6 (STT without punctuation: do not hold the
    user back)."""

    unlikely_threshold = 0.5

    async def predict_end_of_turn(self, chat_ctx: ChatContext) -> float:
        text = ""
        for item in reversed(chat_ctx.items):
            if item.type == "message" and item.role == "user":
                text = (item.text_content or "").strip()
                break
        if not text:
            return 1.0
        if text.endswith(("...", "\u2026", ",", ";", ":", "-")):
            return 0.05
        words = text.split()
        if words[-1].strip("\"')?.!").lower() in _CONTINUATIONS:
            return 0.15  # "in?" too: Whisper punctuates a cut-off phrase as a whole sentence
        if text.endswith((".", "!", "?")):
            return 0.9
        return 0.6
