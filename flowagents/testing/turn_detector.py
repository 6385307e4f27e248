"""A scripted turn detector for tests: end-of-turn probabilities chosen by the user's text.

``ScriptedTurnDetector({"I want to order a...": 0.1}, default=0.9, delay=0.05)`` answers each
prediction with the probability scripted for the last user message of the context (whitespace
collapsed, as :class:`~flowagents.testing.Script` compares text), else ``default``, after
``delay`` seconds of loop time (virtual in tests). Every prediction is recorded in ``calls``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from flowagents.llm import ChatContext
from flowagents.voice.turn_detector import TurnDetector

from .script import normalize_text

__all__ = ["ScriptedTurnDetector", "TurnPrediction"]


@dataclass(frozen=True, slots=True)
class TurnPrediction:
    """One prediction: the user text scored, when it was asked, and the answer."""

    text: str
    time: float
    probability: float


class ScriptedTurnDetector(TurnDetector):
    """A :class:`TurnDetector` that answers from a table (see the module docstring)."""

    def __init__(self, probabilities: Mapping[str, float] | None = None, *,
                 default: float = 1.0, delay: float = 0.0,
                 unlikely_threshold: float = 0.5) -> None:
        self.probabilities = {normalize_text(k): v for k, v in (probabilities or {}).items()}
        self.default = default
        self.delay = delay
        self.unlikely_threshold = unlikely_threshold
        self.calls: list[TurnPrediction] = []

    async def predict_end_of_turn(self, chat_ctx: ChatContext) -> float:
        text = next((item.text_content or "" for item in reversed(chat_ctx.items)
                     if item.type == "message" and item.role == "user"), "")
        loop = asyncio.get_running_loop()
        asked = loop.time()
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        probability = self.probabilities.get(normalize_text(text), self.default)
        self.calls.append(TurnPrediction(text, asked, probability))
        return probability
