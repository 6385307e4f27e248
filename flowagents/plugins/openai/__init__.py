"""OpenAI and OpenAI-compatible services, as ``livekit.plugins.openai`` names them.

``openai.LLM(model=..., base_url=...)`` streams chat completions (OpenAI, Groq, Together, Ollama,
vLLM, the llama.cpp server); ``openai.STT`` transcribes the VAD's segments with
``/audio/transcriptions``; ``openai.TTS`` streams PCM from ``/audio/speech``;
``openai.realtime.RealtimeModel`` speaks the Realtime WebSocket protocol (speech to speech).
Keys come from ``api_key=`` or ``OPENAI_API_KEY``.
"""

from . import realtime
from .llm import LLM
from .stt import STT
from .tts import TTS

__all__ = ["LLM", "STT", "TTS", "realtime"]
