"""Two agents and a handoff: a receptionist learns what the caller wants and hands sales calls
over to a sales agent, which carries on the same conversation.

A port of LiveKit Agents' multi-agent example. The handoff is a tool that returns the next agent
(and a line for the model): the session records an agent-handoff item, runs the receptionist's
``on_exit`` and the sales agent's ``on_enter``, and the history continues (the sales agent is
built with the session's chat context, so it knows what the caller already said). Shared facts
live in the session's ``userdata``.

Run it with ``python examples/handoff.py dev`` (a worker) or
``flowagents console examples/handoff.py``;
``tests/examples/test_handoff.py`` runs it on the testing kit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowagents.job import JobContext
from flowagents.llm import ChatContext, RunContext, function_tool
from flowagents.voice import Agent, AgentSession

RECEPTIONIST_INSTRUCTIONS = (
    "You are the receptionist of Acme Corp. Ask for the caller's name and what they need. "
    "If they want to buy something, call transfer_to_sales."
)
RECEPTIONIST_GREETING = "Welcome the caller to Acme Corp and ask how you can help."
SALES_INSTRUCTIONS = (
    "You are a sales agent at Acme Corp. The caller was transferred to you by the receptionist; "
    "help them choose a plan. Keep answers short."
)
SALES_GREETING = "Introduce yourself as the sales agent and ask what they would like to buy."


@dataclass
class CallInfo:
    """What the agents learn about the caller, shared across the handoff."""

    name: str | None = None
    topic: str | None = None


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=RECEPTIONIST_INSTRUCTIONS)

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions=RECEPTIONIST_GREETING)

    @function_tool
    async def transfer_to_sales(self, context: RunContext[CallInfo], name: str,
                                topic: str) -> tuple[Agent, str]:
        """Transfer the caller to the sales team.

        Args:
            name: The caller's name.
            topic: What the caller wants to buy.
        """
        context.userdata.name = name
        context.userdata.topic = topic
        return SalesAgent(chat_ctx=self.session.history), "Transferring you to sales."


class SalesAgent(Agent):
    def __init__(self, chat_ctx: ChatContext | None = None) -> None:
        super().__init__(instructions=SALES_INSTRUCTIONS, chat_ctx=chat_ctx)

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions=SALES_GREETING)


def local_providers() -> dict[str, Any]:
    """Silero VAD, Whisper STT, SmolLM2 on llama.cpp and Piper TTS, all offline."""
    from nodes.llama_cpp_llm import LlamaCppLLM

    from nodes.piper_tts import PiperTTS
    from nodes.silero_vad import SileroVAD
    from nodes.whisper_stt import WhisperSTT

    return {"vad": SileroVAD(), "stt": WhisperSTT(), "llm": LlamaCppLLM(), "tts": PiperTTS()}


async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    session = AgentSession(**local_providers(), userdata=CallInfo())
    await session.start(agent=Receptionist(), room=ctx.room)


if __name__ == "__main__":
    from flowagents.cli.run_app import run_app
    from flowagents.worker import WorkerOptions

    run_app(WorkerOptions(entrypoint_fnc=entrypoint))
