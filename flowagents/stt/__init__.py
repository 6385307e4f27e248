"""Speech-to-text: the STT interface and its adapters."""

from .stream_adapter import StreamAdapter, StreamAdapterStream
from .stt import STT, SpeechStream, STTCapabilities

__all__ = ["STT", "STTCapabilities", "SpeechStream", "StreamAdapter", "StreamAdapterStream"]
