"""Two agents and a handoff: a receptionist learns what the caller wants and hands sales calls
over to a sales agent, which carries on the same conversation.

A port of LiveKit Agents' multi-agent example. The handoff is a tool that returns the next agent
(and a line for the model): the session records an agent-handoff item, runs the receptionist's
``on_exit`` and the sales agent's ``on_enter``, and the history continues (the sales agent is
built with the session's chat context, so it knows what the caller already said). Shared facts
live in the session's ``userdata``.

The offline models come from ``nodes.local.local_providers()`` (loaded once per job process by
``prewarm``); the worker and the console build the session with ``create_session`` and the
first agent with ``create_agent``. Run it with ``python examples/handoff.py dev`` (a worker) or
``flowagents console examples/handoff.py``;
``tests/examples/test_handoff.py`` runs it on the testing kit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowagents.job import JobContext, JobProcess
from flowagents.llm import ChatContext, RunContext, function_tool
from flowagents.session import AgentSession
from flowagents.voice import Agent

if TYPE_CHECKING:
    from flowagents.plugins.local import LocalProviders

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


def create_agent() -> Agent:
    return Receptionist()


def create_session(providers: LocalProviders) -> AgentSession:
    """The session on the offline models; ``userdata`` is shared across the handoff."""
    return AgentSession(**providers.session_kwargs(), userdata=CallInfo())


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
