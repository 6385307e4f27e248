"""flowagents: real-time voice AI agents as a reactive stream graph.

The names users write most are here too, loaded on first use (``flowagents.AgentSession``);
:mod:`flowagents.agents` mirrors all of ``livekit.agents``. Importing the package stays cheap:
nothing below it loads until a name is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowagents import agents as agents
    from flowagents.agents import Agent as Agent
    from flowagents.agents import AgentSession as AgentSession
    from flowagents.agents import JobContext as JobContext
    from flowagents.agents import WorkerOptions as WorkerOptions
    from flowagents.agents import cli as cli
    from flowagents.agents import function_tool as function_tool

__version__ = "0.1.0"

_FROM_AGENTS = ("Agent", "AgentSession", "JobContext", "WorkerOptions", "cli", "function_tool")

__all__ = ["__version__", *_FROM_AGENTS]


def __getattr__(name: str) -> Any:
    """``flowagents.Agent`` and friends: :mod:`flowagents.agents`' lazy names."""
    if name in _FROM_AGENTS:
        from flowagents import agents

        value = getattr(agents, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flowagents' has no attribute {name!r}")
