"""Telemetry: OpenTelemetry spans for turns, LLM and TTS requests and tool calls (no-op unless
an SDK is configured)."""

from . import spans
from .spans import function_tool, llm_request, set_error, tracer, tts_request, user_turn

__all__ = ["function_tool", "llm_request", "set_error", "spans", "tracer", "tts_request",
           "user_turn"]
