"""Text-to-speech: the TTS interface and its adapters."""

from .stream_adapter import StreamAdapter, StreamAdapterStream
from .tts import TTS, SynthesizeStream, TTSCapabilities

__all__ = ["TTS", "StreamAdapter", "StreamAdapterStream", "SynthesizeStream", "TTSCapabilities"]
