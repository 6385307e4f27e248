"""Agents as a user would write them, in their own module (not under ``flowagents``)."""

from __future__ import annotations

from flowagents.llm import ChatContext, function_tool
from flowagents.voice import Agent


class Specialist(Agent):
    def __init__(self, chat_ctx: ChatContext) -> None:
        super().__init__(instructions="You are the specialist.", chat_ctx=chat_ctx)

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Greet as the specialist.")


class Concierge(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are the concierge.")

    @function_tool
    async def to_specialist(self) -> tuple[Agent, str]:
        """Hand the user to the specialist."""
        return Specialist(chat_ctx=self.chat_ctx), "Transferred."
