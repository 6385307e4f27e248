"""Turn detector: the interface of a model that says whether the user is done with their turn.

VAD silence alone cannot tell "I want to order a..." (a pause to think) from "I want a pizza."
(done). A turn detector reads the chat context, whose last item is the user's transcript so far,
and returns the probability that the turn is over; below its ``unlikely_threshold`` the
endpointing node waits ``max_endpointing_delay`` instead of ``min_endpointing_delay``, and a
detector with a ``likely_threshold`` also says "unsure": between the two thresholds the wait
scales from the longest down to the shortest. Pass one as
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

    likely_threshold: float | None = None
    """From this probability on the turn ends after ``min_endpointing_delay``; between
    ``unlikely_threshold`` and this the wait scales linearly from ``max_endpointing_delay`` down
    (None: no "unsure" band, LiveKit's two-way rule)."""

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
    user back).

    ``min_confidence``: a transcript that reads as finished (the last two cases) but whose STT
    confidence (``ChatMessage.transcript_confidence``) is below this scores
    :data:`UNSURE`, halfway between the thresholds, so the turn waits halfway between the
    shortest and the longest delay. Whisper, hearing the first half of a hesitant question
    ("How many legs does a..."), often writes a finished one ("How many lands are there?")
    with a doubtful last word. None (the default) ignores the confidence: its scale is the
    STT's own (``flowagents.plugins.local.SESSION_OPTIONS`` sets it for Whisper)."""

    unlikely_threshold = 0.5
    likely_threshold = 0.6
    UNSURE = 0.55
    """The score of a finished-looking transcript with a low confidence."""

    def __init__(self, *, min_confidence: float | None = None) -> None:
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within 0..1, got {min_confidence}")
        self.min_confidence = min_confidence

    def __repr__(self) -> str:
        return f"HeuristicTurnDetector(min_confidence={self.min_confidence})"

    async def predict_end_of_turn(self, chat_ctx: ChatContext) -> float:
        return self.score(chat_ctx)

    def score(self, chat_ctx: ChatContext) -> float:
        """The prediction, computed at once (the heuristic needs no executor)."""
        message = None
        for item in reversed(chat_ctx.items):
            if item.type == "message" and item.role == "user":
                message = item
                break
        text = (message.text_content or "").strip() if message is not None else ""
        if not text:
            return 1.0
        if text.endswith(("...", "\u2026", ",", ";", ":", "-")):
            return 0.05
        words = text.split()
        if words[-1].strip("\"')?.!").lower() in _CONTINUATIONS:
            return 0.15  # "in?" too: Whisper punctuates a cut-off phrase as a whole sentence
        score = 0.9 if text.endswith((".", "!", "?")) else 0.6
        confidence = message.transcript_confidence if message is not None else None
        if (self.min_confidence is not None and confidence is not None
                and confidence < self.min_confidence):
            return self.UNSURE
        return score
