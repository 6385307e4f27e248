"""Text-to-speech: the TTS interface and its adapters."""

from .tts import TTS, SynthesizeStream, TTSCapabilities

__all__ = ["TTS", "SynthesizeStream", "TTSCapabilities"]
