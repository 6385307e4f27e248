"""Metrics records: what each stage of a turn cost, emitted as ``metrics_collected`` events.

One slotted dataclass per stage, measured by the framework around provider calls (a provider only
reports usage). Times are seconds; ``timestamp`` is on the session clock. ``UsageCollector``
folds them into a per-session usage summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AgentMetrics",
    "EOUMetrics",
    "LLMMetrics",
    "STTMetrics",
    "TTSMetrics",
    "UsageCollector",
    "UsageSummary",
    "VADMetrics",
]


@dataclass(frozen=True, slots=True)
class LLMMetrics:
    timestamp: float
    request_id: str = ""
    label: str = ""
    ttft: float = -1.0  # time to first token; -1 when no token came
    duration: float = 0.0
    cancelled: bool = False
    completion_tokens: int = 0
    prompt_tokens: int = 0
    prompt_cached_tokens: int = 0
    tokens_per_second: float = 0.0
    speech_id: str = ""


@dataclass(frozen=True, slots=True)
class STTMetrics:
    timestamp: float
    request_id: str = ""
    label: str = ""
    duration: float = 0.0  # processing time
    audio_duration: float = 0.0
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class TTSMetrics:
    timestamp: float
    request_id: str = ""
    label: str = ""
    ttfb: float = -1.0  # time to first audio byte; -1 when no audio came
    duration: float = 0.0
    audio_duration: float = 0.0
    cancelled: bool = False
    characters_count: int = 0
    streamed: bool = False
    speech_id: str = ""


@dataclass(frozen=True, slots=True)
class VADMetrics:
    timestamp: float
    label: str = ""
    idle_time: float = 0.0
    inference_duration_total: float = 0.0
    inference_count: int = 0


@dataclass(frozen=True, slots=True)
class EOUMetrics:
    """End of utterance: how long after the user stopped the turn was committed."""

    timestamp: float
    end_of_utterance_delay: float = 0.0  # user stopped speaking -> turn committed
    transcription_delay: float = 0.0  # user stopped speaking -> final transcript
    on_user_turn_completed_delay: float = 0.0
    speech_id: str = ""


AgentMetrics = LLMMetrics | STTMetrics | TTSMetrics | VADMetrics | EOUMetrics


@dataclass(slots=True)
class UsageSummary:
    llm_prompt_tokens: int = 0
    llm_prompt_cached_tokens: int = 0
    llm_completion_tokens: int = 0
    tts_characters_count: int = 0
    tts_audio_duration: float = 0.0
    stt_audio_duration: float = 0.0


@dataclass(slots=True)
class UsageCollector:
    """Accumulates metrics into a :class:`UsageSummary`."""

    summary: UsageSummary = field(default_factory=UsageSummary)

    def __call__(self, metrics: AgentMetrics) -> None:
        s = self.summary
        if isinstance(metrics, LLMMetrics):
            s.llm_prompt_tokens += metrics.prompt_tokens
            s.llm_prompt_cached_tokens += metrics.prompt_cached_tokens
            s.llm_completion_tokens += metrics.completion_tokens
        elif isinstance(metrics, TTSMetrics):
            s.tts_characters_count += metrics.characters_count
            s.tts_audio_duration += metrics.audio_duration
        elif isinstance(metrics, STTMetrics):
            s.stt_audio_duration += metrics.audio_duration

    def get_summary(self) -> UsageSummary:
        return UsageSummary(**{k: getattr(self.summary, k) for k in UsageSummary.__slots__})
