"""Speech-to-text: the STT interface and its adapters."""

from .stt import STT, SpeechStream, STTCapabilities

__all__ = ["STT", "STTCapabilities", "SpeechStream"]
