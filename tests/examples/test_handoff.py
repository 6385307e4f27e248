"""examples/handoff.py: the receptionist hands a sales call to the sales agent; history goes on."""

from __future__ import annotations

from flowagents.runtime import run_virtual
from flowagents.testing import FakeToolCall, Script, simulate

from .conftest import load_example

handoff = load_example("handoff")

WELCOME = "Welcome to Acme Corp! How can I help?"
REQUEST = "Hi, I'm Ana and I want to buy a plan."
SALES_HELLO = "Hi Ana, I'm from sales. Which plan would you like?"


def script() -> Script:
    return (Script()
            .llm_reply(input=handoff.RECEPTIONIST_GREETING, content=WELCOME)
            .user_speech(start=3.0, end=5.0, transcript=REQUEST)
            .llm_reply(input=REQUEST, tool_calls=[FakeToolCall(
                "transfer_to_sales", {"name": "Ana", "topic": "a plan"})])
            .llm_reply(input=handoff.SALES_GREETING, content=SALES_HELLO))


def test_receptionist_hands_off_to_sales_and_the_history_continues() -> None:
    info = handoff.CallInfo()
    r = run_virtual(simulate(script(), agent=handoff.Receptionist(),
                             options={"userdata": info}))

    assert isinstance(r.session.current_agent, handoff.SalesAgent)
    assert (info.name, info.topic) == ("Ana", "a plan")
    kinds = [i.type for i in r.history.items]
    assert kinds.index("function_call") < kinds.index("agent_handoff")
    texts = [(role, text) for role, text, _ in r.messages()]
    assert texts[:2] == [("assistant", WELCOME), ("user", REQUEST)]
    assert texts[-1] == ("assistant", SALES_HELLO)
    # the sales agent's model saw what the caller told the receptionist
    assert r.llm is not None
    sales_call = next(c for c in r.llm.calls if c.input == handoff.SALES_GREETING)
    seen = [i.text_content for i in sales_call.chat_ctx.items if i.type == "message"]
    assert REQUEST in seen
    assert sales_call.chat_ctx.items[0].text_content == handoff.SALES_INSTRUCTIONS
    assert r.agent_states[-1][1] == "listening"
