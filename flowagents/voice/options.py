"""Session options: the turn-taking rules' knobs, with LiveKit Agents' names and defaults.

``AgentSession(min_endpointing_delay=0.4, ...)`` builds a :class:`SessionOptions`. An ``Agent`` may
override the turn options (``turn_detection``, ``min_endpointing_delay``, ``allow_interruptions``,
...) while it is active: :func:`turn_options` resolves the effective :class:`TurnOptions`, which the
session hands to the graph at start and at every handoff (the ``active_agent`` node streams them
to the rules, so each rule reads the values in force when it applies). Every option here is read
by one node of the voice graph (``graphs/voice.py`` names which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowagents.errors import NOT_GIVEN, APIConnectOptions, NotGiven
from flowagents.vad import VADOptions

if TYPE_CHECKING:
    from .turn_detector import TurnDetector

__all__ = ["AGENT_TURN_OPTIONS", "DEFAULT_TURN_OPTIONS", "SessionConnectOptions",
           "SessionOptions", "TurnOptions", "default", "turn_options"]


_VAD = VADOptions.model_fields  # the VAD's own options keep their defaults in one place


class SessionConnectOptions(BaseModel):
    """How hard a reply tries its LLM and TTS (LiveKit's ``SessionConnectOptions``). Each is an
    :class:`~flowagents.errors.APIConnectOptions`: ``timeout`` bounds the wait for the first
    token (or audio chunk) and for each next one, so a provider that stalls fails as an
    :class:`~flowagents.errors.APITimeoutError` instead of leaving the agent thinking;
    ``max_retry`` retries (``retry_interval`` apart, the first at once) happen only while
    nothing of the attempt was delivered. A fallback adapter as the session's LLM or TTS runs
    its own per-provider budget instead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    llm_conn_options: APIConnectOptions = APIConnectOptions()
    tts_conn_options: APIConnectOptions = APIConnectOptions()


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
    # the VAD's own options: given to the session, they replace the VAD's for this session
    # (AgentSession hears through ``vad.with_options(...)``); not given, the VAD keeps its own
    min_speech_duration: float = Field(_VAD["min_speech_duration"].default, ge=0.0)
    min_silence_duration: float = Field(_VAD["min_silence_duration"].default, ge=0.0)
    pre_roll: float = Field(_VAD["prefix_padding"].default, ge=0.0)
    speculative_stt_delay: float | None = Field(0.2, ge=0.0)
    """Seconds into the VAD's silence wait after which a batch STT starts on the speech so far
    (``None`` or 0: on the end of speech). 0.2 s is a conservative default: a shorter delay
    brings the transcript sooner, but a speaker's mid-sentence pauses start (and, when the
    speech resumes, abandon) more calls, which costs CPU, not correctness (an abandoned call may
    still run to its end in a provider's one thread). ``flowagents.plugins.local.LocalProviders
    .session_kwargs()`` uses 0.1 s with ``preemptive_tts`` for the offline models
    (``docs/offline.md``)."""
    activation_threshold: float = Field(_VAD["activation_threshold"].default, gt=0.0, lt=1.0)
    conn_options: SessionConnectOptions = SessionConnectOptions()
    """The reply's stall timeouts and retries (see :class:`SessionConnectOptions`)."""

    @model_validator(mode="after")
    def _ordered(self) -> SessionOptions:
        if self.max_endpointing_delay < self.min_endpointing_delay:
            raise ValueError("max_endpointing_delay must be >= min_endpointing_delay")
        return self


AGENT_TURN_OPTIONS = ("allow_interruptions", "min_interruption_duration", "min_interruption_words",
                      "min_endpointing_delay", "max_endpointing_delay",
                      "false_interruption_timeout")
"""The :class:`SessionOptions` an ``Agent`` may override (plus ``turn_detection``)."""


@dataclass(frozen=True, slots=True)
class TurnOptions:
    """The turn options in force while one agent is active (the session's, overridden by the
    agent's; built by :func:`turn_options`, so the defaults are :class:`SessionOptions`'s).
    Flows once per agent change, not per frame."""

    allow_interruptions: bool
    min_interruption_duration: float
    min_interruption_words: int
    min_endpointing_delay: float
    max_endpointing_delay: float
    false_interruption_timeout: float | None
    turn_detection: TurnDetector | None = None


def turn_options(session: SessionOptions, agent: Any = None,
                 turn_detection: TurnDetector | None = None) -> TurnOptions:
    """``session``'s turn options with ``agent``'s overrides (attributes left ``NOT_GIVEN`` keep
    the session's); ``turn_detection`` is the session's detector."""
    values: dict[str, Any] = {name: getattr(session, name) for name in AGENT_TURN_OPTIONS}
    values["turn_detection"] = turn_detection
    for name in (*AGENT_TURN_OPTIONS, "turn_detection"):
        override = getattr(agent, name, NOT_GIVEN)
        if not isinstance(override, NotGiven):
            values[name] = override
    if values["max_endpointing_delay"] < values["min_endpointing_delay"]:
        values["max_endpointing_delay"] = values["min_endpointing_delay"]
    return TurnOptions(**values)


DEFAULT_TURN_OPTIONS = turn_options(SessionOptions())
"""The turn options of a session with the defaults (what a rule node applies until the active
agent's come in)."""


def default(name: str) -> Any:
    """The default of :class:`SessionOptions` field ``name``: a node config that keeps an option
    (for a node used outside the voice graph) takes its default from here, not from a copy."""
    return SessionOptions.model_fields[name].default
