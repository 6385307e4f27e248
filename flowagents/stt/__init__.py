"""Speech-to-text: the STT interface and its adapters."""

from .fallback import FallbackAdapter
from .stream_adapter import StreamAdapter, StreamAdapterStream
from .stt import STT, SpeechStream, STTCapabilities

__all__ = [
    "STT", "FallbackAdapter", "STTCapabilities", "SpeechStream", "StreamAdapter",
    "StreamAdapterStream",
]
