"""The TTS interface: text in, 16-bit PCM audio chunks out, chunked (one text) or streaming.

``synthesize(text)`` voices one piece of text (a sentence) and yields audio as it is produced, so
the first chunk can play while the rest is synthesized. ``stream()`` accepts text incrementally
(LLM tokens) for providers that can; batch-only providers are wrapped by the TTS stream adapter,
which splits sentences and calls ``synthesize`` per sentence. Cancelling the iteration abandons
the synthesis.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from flowagents.types import SynthesizedAudio

__all__ = ["TTS", "SynthesizeStream", "TTSCapabilities"]


@dataclass(frozen=True, slots=True)
class TTSCapabilities:
    streaming: bool
    aligned_transcript: bool = False


class SynthesizeStream(ABC):
    """Streaming synthesis: push text as it arrives, iterate audio."""

    @abstractmethod
    def push_text(self, text: str) -> None:
        """Queue text (a token, a word, a sentence)."""

    @abstractmethod
    def flush(self) -> None:
        """Synthesize what was pushed so far as a segment."""

    @abstractmethod
    def end_input(self) -> None:
        """No more text; the iterator ends after the last audio."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[SynthesizedAudio]:
        """Audio chunks in playback order."""

    @abstractmethod
    async def aclose(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Stop synthesizing and release the connection or model call in flight."""


class TTS(ABC):
    """A text-to-speech provider with a fixed output format."""

    label: str = "tts"

    def __init__(self, capabilities: TTSCapabilities, sample_rate: int,
                 num_channels: int = 1) -> None:
        self.capabilities = capabilities
        self.sample_rate = sample_rate
        self.num_channels = num_channels

    @abstractmethod
    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[SynthesizedAudio]:
        """Voice ``text``; chunks carry frames at ``sample_rate``, the last has ``is_final``."""

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SynthesizeStream:
        """Incremental synthesis. Batch-only providers are wrapped by the TTS stream adapter."""
        raise TypeError(
            f"{type(self).__name__} does not stream; wrap it in flowagents.tts.StreamAdapter"
        )

    async def aclose(self) -> None:  # noqa: B027 (an optional hook: a no-op by default)
        """Release shared resources (sessions, loaded models)."""
