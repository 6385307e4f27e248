"""Text-to-speech: the TTS interface and its adapters."""

from .fallback import FallbackAdapter
from .stream_adapter import StreamAdapter, StreamAdapterStream
from .tts import TTS, SynthesizeStream, TTSCapabilities

__all__ = [
    "TTS", "FallbackAdapter", "StreamAdapter", "StreamAdapterStream", "SynthesizeStream",
    "TTSCapabilities",
]
