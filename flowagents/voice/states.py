"""The states of the agent and the user, and where a speech came from (LiveKit's literals)."""

from typing import Literal

__all__ = ["AgentState", "SpeechSource", "UserState"]

AgentState = Literal["initializing", "listening", "thinking", "speaking"]
UserState = Literal["speaking", "listening", "away"]
SpeechSource = Literal["say", "generate_reply", "tool_response"]
