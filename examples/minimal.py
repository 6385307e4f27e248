"""The smallest voice agent: it greets the user as soon as the session starts, then answers.

A port of LiveKit Agents' minimal example. Run it in a room with ``python examples/minimal.py dev``
(a worker; needs ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``), or locally with
``flowagents console examples/minimal.py``. The providers are the embedded offline ones (the
``local`` extra); ``tests/examples/test_minimal.py`` runs the same agent on the testing kit.
"""

from __future__ import annotations

from typing import Any

from flowagents.job import JobContext
from flowagents.voice import Agent, AgentSession

INSTRUCTIONS = "You are a helpful voice AI assistant. Keep your answers short."
GREETING = "Greet the user and offer your assistance."


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    async def on_enter(self) -> None:
        # Greeting from on_enter rather than after start(): it also runs after a handoff back.
        self.session.generate_reply(instructions=GREETING)


def local_providers() -> dict[str, Any]:
    """Silero VAD, Whisper STT, SmolLM2 on llama.cpp and Piper TTS, all offline."""
    from nodes.llama_cpp_llm import LlamaCppLLM

    from nodes.piper_tts import PiperTTS
    from nodes.silero_vad import SileroVAD
    from nodes.whisper_stt import WhisperSTT

    return {"vad": SileroVAD(), "stt": WhisperSTT(), "llm": LlamaCppLLM(), "tts": PiperTTS()}


async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    session = AgentSession(**local_providers())
    await session.start(agent=Assistant(), room=ctx.room)


if __name__ == "__main__":
    from flowagents.cli.run_app import run_app
    from flowagents.worker import WorkerOptions

    run_app(WorkerOptions(entrypoint_fnc=entrypoint))
