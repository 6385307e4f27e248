"""Scenarios: handoff to a user-defined agent (from a user module), returned with a result, and
the new agent continuing the full history (what was played before the tool call included).

The user asks at 0.5-2.5 s; the turn commits at 3.05; "One moment." plays 3.25-4.25 while the
tool runs; the handoff happens once it has played (4.25).
"""

from __future__ import annotations

from flowagents.testing import FakeToolCall, Script

from .conftest import approx, run
from .user_agents import Concierge, Specialist


def test_handoff_to_a_user_defined_agent_continues_the_whole_history() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="I need an expert.")
    s.llm_reply(input="I need an expert.", content="One moment.",
                tool_calls=[FakeToolCall("to_specialist", {})])
    s.tts_audio(input="One moment.", audio_duration=1.0)
    s.llm_reply(input="Greet as the specialist.", content="Specialist here.")
    s.tts_audio(input="Specialist here.", audio_duration=1.0)
    r = run(s, agent=Concierge())
    assert type(r.session.current_agent) is Specialist
    # the (agent, result) tuple: the result goes to the history, the agent takes over
    outputs = [i for i in r.history.items if i.type == "function_call_output"]
    assert [(o.name, o.output) for o in outputs] == [("to_specialist", "Transferred.")]
    assert r.llm is not None
    call = r.llm.calls[-1]
    assert call.time == approx(4.25)
    seen = [(i.type, getattr(i, "role", ""), getattr(i, "text_content", None)
             or getattr(i, "name", "")) for i in call.chat_ctx.items]
    assert seen == [
        ("message", "system", "You are the specialist."),
        ("message", "user", "I need an expert."),
        ("message", "assistant", "One moment."),
        ("function_call", "", "to_specialist"),
        ("function_call_output", "", "to_specialist"),
        ("message", "system", "Greet as the specialist.")]
    assert r.messages()[-1] == ("assistant", "Specialist here.", False)
