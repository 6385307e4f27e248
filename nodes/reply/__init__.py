"""The reply side: one reply per turn (switch-latest), the LLM tool loop, TTS, and playout."""
