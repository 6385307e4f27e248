"""The values that flow through a graph: audio frames, VAD and speech events, LLM and TTS chunks.

These are per-frame or per-token values on the hot path, so they are frozen slotted dataclasses
(cheap to build, no validation framework), not pydantic models. Each checks only what is cheap and
catches real mistakes (a float array passed as PCM, a zero sample rate) when it is built.
Times are seconds on the session clock (the job loop's ``time()``, virtual in tests).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from livekit import rtc

__all__ = [
    "AudioFrame",
    "AudioFormatError",
    "ChatChunk",
    "FunctionToolCallDelta",
    "SpeechData",
    "SpeechEvent",
    "SpeechEventType",
    "SynthesizedAudio",
    "TokenUsage",
    "VADEvent",
    "VADEventType",
]

PCM = npt.NDArray[np.int16]


class AudioFormatError(ValueError):
    """An audio frame whose samples, rate or channel layout is not valid 16-bit PCM."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A block of 16-bit PCM audio, interleaved when it has several channels.

    ``data`` is a 1-D int16 array of ``samples_per_channel * num_channels`` values. ``timestamp``
    is when the frame starts on the session clock.
    """

    data: PCM
    sample_rate: int
    num_channels: int = 1
    timestamp: float = 0.0

    def __post_init__(self) -> None:
        data = self.data
        if not isinstance(data, np.ndarray) or data.dtype != np.int16:
            dtype = getattr(data, "dtype", type(data).__name__)
            raise AudioFormatError(f"AudioFrame.data must be an int16 numpy array, got {dtype}")
        if data.ndim != 1:
            raise AudioFormatError(f"AudioFrame.data must be 1-D (interleaved), got {data.ndim}-D")
        if self.sample_rate <= 0:
            raise AudioFormatError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.num_channels <= 0:
            raise AudioFormatError(f"num_channels must be positive, got {self.num_channels}")
        if data.shape[0] % self.num_channels:
            raise AudioFormatError(
                f"{data.shape[0]} samples do not split into {self.num_channels} channels"
            )

    @property
    def samples_per_channel(self) -> int:
        return len(self.data) // self.num_channels

    @property
    def duration(self) -> float:
        return len(self.data) / (self.num_channels * self.sample_rate)

    @property
    def end_time(self) -> float:
        return self.timestamp + len(self.data) / (self.num_channels * self.sample_rate)

    @classmethod
    def silence(
        cls, duration: float, sample_rate: int = 16000, num_channels: int = 1,
        timestamp: float = 0.0,
    ) -> AudioFrame:
        """A frame of zeros lasting ``duration`` seconds (rounded to whole samples)."""
        n = round(duration * sample_rate) * num_channels
        return cls(np.zeros(n, dtype=np.int16), sample_rate, num_channels, timestamp)

    def with_timestamp(self, timestamp: float) -> AudioFrame:
        return AudioFrame(self.data, self.sample_rate, self.num_channels, timestamp)

    @classmethod
    def from_rtc(cls, frame: rtc.AudioFrame, timestamp: float = 0.0) -> AudioFrame:
        """Wrap a LiveKit frame without copying its samples."""
        data = np.frombuffer(frame.data, dtype=np.int16)
        return cls(data, frame.sample_rate, frame.num_channels, timestamp)

    def to_rtc(self) -> rtc.AudioFrame:
        """A LiveKit frame with the same samples (the SDK copies them into its own buffer)."""
        from livekit import rtc

        return rtc.AudioFrame(
            self.data.data.cast("B"), self.sample_rate, self.num_channels,
            self.samples_per_channel,
        )


class VADEventType(enum.Enum):
    START_OF_SPEECH = "start_of_speech"
    INFERENCE_DONE = "inference_done"
    END_OF_SPEECH = "end_of_speech"


@dataclass(frozen=True, slots=True)
class VADEvent:
    """What the VAD decided about the audio up to ``timestamp``.

    ``timestamp`` is the moment the decision refers to: for START_OF_SPEECH when speech began
    (dated back over ``speech_duration``), for END_OF_SPEECH when it ended (dated back over
    ``silence_duration``), for INFERENCE_DONE the end of the window just scored.
    """

    type: VADEventType
    timestamp: float
    probability: float = 0.0
    speech_duration: float = 0.0
    silence_duration: float = 0.0
    speaking: bool = False


class SpeechEventType(enum.Enum):
    START_OF_SPEECH = "start_of_speech"
    INTERIM_TRANSCRIPT = "interim_transcript"
    PREFLIGHT_TRANSCRIPT = "preflight_transcript"
    """What the user said so far, before the end of speech is confirmed (a batch STT's
    speculative result): enough to start a reply early, superseded by the final."""
    FINAL_TRANSCRIPT = "final_transcript"
    END_OF_SPEECH = "end_of_speech"


@dataclass(frozen=True, slots=True)
class SpeechData:
    """One hypothesis of what was said, with the audio span it covers."""

    text: str
    language: str = ""
    confidence: float = 0.0
    start_time: float = 0.0
    end_time: float = 0.0


@dataclass(frozen=True, slots=True)
class SpeechEvent:
    """An STT result: interim or final text, or the STT's own start/end of speech."""

    type: SpeechEventType
    timestamp: float = 0.0
    alternatives: tuple[SpeechData, ...] = ()
    request_id: str = ""

    @property
    def text(self) -> str:
        return self.alternatives[0].text if self.alternatives else ""

    @property
    def is_final(self) -> bool:
        return self.type is SpeechEventType.FINAL_TRANSCRIPT


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class FunctionToolCallDelta:
    """A piece of a tool call as it streams; pieces with the same ``index`` are concatenated."""

    index: int = 0
    call_id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One streamed piece of an LLM reply: text, tool-call pieces, and usage on the last chunk."""

    id: str = ""
    delta: str = ""
    tool_calls: tuple[FunctionToolCallDelta, ...] = ()
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class SynthesizedAudio:
    """A chunk of TTS audio and the text it voices (``text`` on the chunk that starts a segment)."""

    frame: AudioFrame
    text: str = ""
    segment_id: str = ""
    is_final: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
