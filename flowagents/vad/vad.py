"""The VAD interface: a stream that turns audio frames into start/inference/end-of-speech events.

VAD inference is small and runs once per frame, so a VAD stream is synchronous: ``process(frame)``
returns the events that frame produced, with the model state carried between calls. Scheduling
it on an executor per frame would cost more than the inference it moves off the loop (Silero
scores a 32 ms window in about 0.1 ms). Options follow LiveKit Agents' Silero defaults.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from flowagents.types import AudioFrame, VADEvent

__all__ = ["VAD", "VADOptions", "VADStream"]


class VADOptions(BaseModel):
    """When speech starts and ends. ``prefix_padding`` is the gate's pre-roll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_speech_duration: float = Field(default=0.05, ge=0)
    min_silence_duration: float = Field(default=0.55, ge=0)
    prefix_padding: float = Field(default=0.5, ge=0)
    activation_threshold: float = Field(default=0.5, gt=0, lt=1)
    sample_rate: int = Field(default=16000, gt=0)


class VADStream(ABC):
    """One stream of VAD decisions for one audio input (one per job)."""

    @abstractmethod
    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        """Score ``frame`` and return the events it produced, in time order (often none)."""

    def flush(self) -> Sequence[VADEvent]:
        """Events still pending at the end of the input (for example a final end of speech)."""
        return ()

    def close(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Release per-stream resources."""

    def alert(self, on: bool) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """``on``: the agent is thinking or speaking, so the user may barge in. A stream that
        saves work in long silences (deciding starts of speech late, dated back) decides them
        without delay until called with False."""


class VAD(ABC):
    """A voice activity detector: a factory of streams that share a loaded model."""

    label: str = "vad"

    def __init__(self, options: VADOptions | None = None) -> None:
        self.options = options or VADOptions()

    def with_options(self, **changes: Any) -> Self:
        """This VAD with some options changed (a session's own silence wait), sharing its
        loaded model: the provider stays shared between sessions, its options unchanged."""
        clone = copy.copy(self)
        clone.options = VADOptions(**(self.options.model_dump() | changes))
        clone._copied()
        return clone

    def _copied(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Called on a :meth:`with_options` copy: drop per-instance state it must not share."""

    @abstractmethod
    def stream(self) -> VADStream:
        """A fresh stream with its own model state."""
