"""Voice activity detection: the VAD interface and its options."""

from .vad import VAD, VADOptions, VADStream

__all__ = ["VAD", "VADOptions", "VADStream"]
