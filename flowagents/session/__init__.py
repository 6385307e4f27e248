"""AgentSession: the user-facing voice session over a voice graph (LiveKit Agents' API).

Above the nodes and graphs it runs, below room I/O and the job that give it a room.
"""

from .session import AgentSession

__all__ = ["AgentSession"]
