"""The smallest voice agent: it greets the user as soon as the session starts, then answers.

A port of LiveKit Agents' minimal example. Run it in a room with ``python examples/minimal.py dev``
(a worker; needs ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``), or locally with
``flowagents console examples/minimal.py``. The providers are the embedded offline ones (the
``local`` extra, built by ``nodes.local.local_providers()``); the worker and the console both
build the session with ``create_session`` and the agent with ``create_agent``.
``tests/examples/test_minimal.py`` runs the same agent on the testing kit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowagents.job import JobContext, JobProcess
from flowagents.session import AgentSession
from flowagents.voice import Agent

if TYPE_CHECKING:
    from flowagents.plugins.local import LocalProviders

INSTRUCTIONS = "You are a helpful voice AI assistant. Keep your answers short."
GREETING = "Greet the user and offer your assistance."


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    async def on_enter(self) -> None:
        # Greeting from on_enter rather than after start(): it also runs after a handoff back.
        self.session.generate_reply(instructions=GREETING)


def create_agent() -> Agent:
    return Assistant()


def create_session(providers: LocalProviders) -> AgentSession:
    """The session on Silero VAD, Whisper STT, SmolLM2 on llama.cpp and Piper TTS (offline)."""
    return AgentSession(**providers.session_kwargs())


def prewarm(proc: JobProcess) -> None:
    """Load the four offline models once per job process, before a job arrives."""
    from flowagents.plugins.local import local_providers

    proc.userdata["providers"] = local_providers()


async def entrypoint(ctx: JobContext) -> None:
    from flowagents.job.room_io import room_session_io

    await ctx.connect()
    session = create_session(ctx.proc.userdata["providers"])
    room_io = await room_session_io(ctx.room, session=session)
    await session.start(agent=create_agent(), io=room_io.io)


if __name__ == "__main__":
    from flowagents.cli import run_app
    from flowagents.worker import WorkerOptions

    run_app(WorkerOptions(entrypoint_fnc=entrypoint, prewarm_fnc=prewarm))
