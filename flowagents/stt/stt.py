"""The STT interface: batch recognition of a speech segment, and optional streaming recognition.

A provider implements ``recognize`` (one utterance in, one final transcript out) and, if it can,
``stream`` (frames in, interim and final transcripts out). The framework owns the rest: the stream
adapter turns a batch STT into a streaming one on VAD segments, and fallback adapters switch
providers on failure. Providers raise the typed errors of :mod:`flowagents.errors`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.types import AudioFrame, SpeechEvent

__all__ = ["STT", "STTCapabilities", "SpeechStream"]


@dataclass(frozen=True, slots=True)
class STTCapabilities:
    streaming: bool
    interim_results: bool


class SpeechStream(ABC):
    """Streaming recognition: push frames, iterate speech events. Closing cancels the work."""

    @abstractmethod
    def push_frame(self, frame: AudioFrame) -> None:
        """Queue audio for recognition (never blocks)."""

    @abstractmethod
    def flush(self) -> None:
        """Mark the end of a segment: the provider should finalize what it heard so far."""

    @abstractmethod
    def end_input(self) -> None:
        """No more audio will come; the iterator ends after the last results."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[SpeechEvent]:
        """Speech events as they are recognized."""

    @abstractmethod
    async def aclose(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Stop recognizing and release the connection or model call in flight."""


class STT(ABC):
    """A speech-to-text provider."""

    label: str = "stt"

    def __init__(self, capabilities: STTCapabilities) -> None:
        self.capabilities = capabilities

    @abstractmethod
    async def recognize(
        self, frames: Sequence[AudioFrame], *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechEvent:
        """Transcribe one utterance; returns a FINAL_TRANSCRIPT event (empty text if silent)."""

    def stream(
        self, *, language: str | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        """A streaming session. Batch-only providers are wrapped by the STT stream adapter."""
        raise TypeError(
            f"{type(self).__name__} does not stream; wrap it in flowagents.stt.StreamAdapter"
        )

    async def aclose(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Release shared resources (sessions, loaded models)."""
