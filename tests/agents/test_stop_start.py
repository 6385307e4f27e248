"""``session.stop()`` then ``session.start(agent=...)`` switches agents and keeps the history,
also from inside a tool that reaches the session the LiveKit way (``self._activity._session``).

Script: the user asks to buy at 0.5-2.0 s; the turn commits at 2.55; the receptionist's model
calls ``transfer_to_sales``, whose tool stops the session and starts it again on the sales agent,
then returns its text; the receptionist's follow-up reply plays; the user asks again at
8.0-9.0 s and the sales agent, with its own instructions, answers.
"""

from __future__ import annotations

import pytest

from flowagents import agents
from flowagents.runtime import run_virtual
from flowagents.testing import FakeToolCall, Script, simulate

RECEPTION = "You are a receptionist. Ask for user needs."
SALES = "You are a sales agent. Provide product info."


class ReceptionAgent(agents.Agent):
    def __init__(self) -> None:
        super().__init__(instructions=RECEPTION)

    @agents.function_tool
    async def transfer_to_sales(self) -> str:
        """Transfer the caller to the sales department."""
        session = self._activity._session
        await session.stop()  # type: ignore[attr-defined]
        await session.start(agent=SalesAgent())  # type: ignore[attr-defined]
        return "Transferring to sales..."


class SalesAgent(agents.Agent):
    def __init__(self) -> None:
        super().__init__(instructions=SALES)


def script() -> Script:
    return (Script()
            .user_speech(start=0.5, end=2.0, transcript="I want to buy a plan.")
            .llm_reply(input="I want to buy a plan.",
                       tool_calls=[FakeToolCall("transfer_to_sales", {})])
            .llm_reply(input="Transferring to sales...", content="Sales will help you now.")
            .tts_audio(input="Sales will help you now.", audio_duration=1.0)
            .user_speech(start=8.0, end=9.0, transcript="How much is the pro plan?")
            .llm_reply(input="How much is the pro plan?", content="Ten dollars a month.")
            .tts_audio(input="Ten dollars a month.", audio_duration=1.0))


def test_stop_then_start_from_a_tool_switches_agents_and_keeps_the_history() -> None:
    r = run_virtual(simulate(script(), agent=ReceptionAgent()))
    assert type(r.session.current_agent) is SalesAgent
    items = [(i.type, getattr(i, "role", None) or getattr(i, "name", None) or "")
             for i in r.history.items]
    assert items == [
        ("message", "user"),
        ("agent_handoff", ""),  # while the tool ran
        ("function_call", "transfer_to_sales"),  # recorded when the tool round ended
        ("function_call_output", "transfer_to_sales"),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    assert [(role, text) for role, text, _ in r.messages()] == [
        ("user", "I want to buy a plan."),
        ("assistant", "Sales will help you now."),
        ("user", "How much is the pro plan?"),
        ("assistant", "Ten dollars a month."),
    ]
    outputs = [i.output for i in r.history.items if i.type == "function_call_output"]
    assert outputs == ["Transferring to sales..."]
    assert r.llm is not None
    last = r.llm.calls[-1]
    assert last.input == "How much is the pro plan?"
    assert last.chat_ctx.items[0].text_content == SALES
    # the receptionist's reply after the tool round was its last word
    follow_up = next(c for c in r.llm.calls if c.input == "Transferring to sales...")
    assert follow_up.chat_ctx.items[0].text_content == RECEPTION


def test_a_running_session_does_not_start_twice_and_restarts_only_where_it_ran() -> None:
    async def scenario() -> list[str]:
        from flowagents.session import AgentSession
        from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD
        from flowagents.voice import SessionIO

        s = Script()
        session = AgentSession(vad=FakeVAD(s), stt=FakeSTT(s), llm=FakeLLM(s), tts=FakeTTS(s))
        errors: list[str] = []
        with pytest.raises(RuntimeError, match="needs a running session"):
            await session.stop()
        await session.start(agent=agents.Agent(instructions="a"))
        try:
            await session.start(agent=agents.Agent(instructions="b"))
        except RuntimeError as e:
            errors.append(str(e))
        await session.stop()
        try:
            await session.start(agent=agents.Agent(instructions="b"), io=SessionIO())
        except RuntimeError as e:
            errors.append(str(e))
        await session.start(agent=agents.Agent(instructions="c"))
        await session.drain()
        import asyncio

        await asyncio.sleep(0.1)
        errors.append(session.current_agent.instructions)
        await session.aclose()
        return errors

    assert run_virtual(scenario()) == [
        "a session starts once; stop() it to start another agent",
        "a stopped session starts again on the room or I/O it ran on",
        "c",
    ]
