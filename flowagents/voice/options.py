"""Session options: the turn-taking rules' knobs, with LiveKit Agents' names and defaults.

``AgentSession(min_endpointing_delay=0.4, ...)`` builds a :class:`SessionOptions`; an ``Agent`` may
override ``allow_interruptions`` for its own replies. Every option here is read by one node of the
voice graph (``graphs/voice.py`` names which).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SessionOptions"]


class SessionOptions(BaseModel):
    """How the session takes turns. Defaults follow LiveKit Agents (``preemptive_generation`` is
    on by default here)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_interruptions: bool = True
    discard_audio_if_uninterruptible: bool = True
    min_interruption_duration: float = Field(0.5, ge=0.0)
    min_interruption_words: int = Field(0, ge=0)
    min_endpointing_delay: float = Field(0.5, ge=0.0)
    max_endpointing_delay: float = Field(3.0, ge=0.0)
    false_interruption_timeout: float | None = Field(2.0, ge=0.0)
    resume_false_interruption: bool = True
    max_tool_steps: int = Field(3, ge=1)
    user_away_timeout: float | None = Field(15.0, gt=0.0)
    preemptive_generation: bool = True
    preemptive_tts: bool = False
    min_speech_duration: float = Field(0.05, ge=0.0)
    min_silence_duration: float = Field(0.55, ge=0.0)
    pre_roll: float = Field(0.5, ge=0.0)
    activation_threshold: float = Field(0.5, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> SessionOptions:
        if self.max_endpointing_delay < self.min_endpointing_delay:
            raise ValueError("max_endpointing_delay must be >= min_endpointing_delay")
        return self
