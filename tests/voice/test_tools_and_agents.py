"""Scenarios: tool calls and their follow-up, tool errors, greeting, say from a hook, goodbye tool,
handoff between agents, user away during a slow tool.

The user asks at 0.5-2.5 s; the turn commits at 3.05 s (VAD end); preemptive generation has the
first LLM step ready by 3.0 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flowagents.llm import ChatContext, ChatMessage, RunContext, ToolError, function_tool
from flowagents.testing import FakeToolCall, Script
from flowagents.voice import Agent

from .conftest import approx, run, states

Q = "What's the weather in Paris?"


class Weather(Agent):
    def __init__(self, delay: float = 1.0) -> None:
        super().__init__(instructions="You tell the weather.")
        self.delay = delay

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Get the weather.

        Args:
            location: the city
        """
        await asyncio.sleep(self.delay)
        return f"sunny in {location}"

    @function_tool
    async def broken(self) -> str:
        """A tool that fails."""
        raise RuntimeError("secret internals")

    @function_tool
    async def refuses(self) -> str:
        """A tool that explains its failure."""
        raise ToolError("the city is unknown")


def items(r: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in r.history.items:
        if i.type == "message":
            out.append((i.role, i.text_content))
        elif i.type == "function_call":
            out.append(("call", i.name, i.arguments))
        elif i.type == "function_call_output":
            out.append(("output", i.name, i.output, i.is_error))
        else:
            out.append((i.type,))
    return out


def test_tool_call_with_speech_first_and_follow_up_reply() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=Q)
    s.llm_reply(input=Q, content="Let me check.",
                tool_calls=[FakeToolCall("get_weather", {"location": "Paris"})])
    s.tts_audio(input="Let me check.", audio_duration=1.0)
    s.llm_reply(input="sunny in Paris", content="It is sunny in Paris.")
    s.tts_audio(input="It is sunny in Paris.", audio_duration=1.5)
    r = run(s, agent=Weather())
    # the tool runs 3.05-4.05 (once the turn commits) while "Let me check." plays 3.25-4.25;
    # the follow-up LLM starts when both are done (4.25), its audio plays 4.75-6.25
    assert states(r.agent_states) == [
        (0.0, "initializing"), (0.0, "listening"), (3.05, "thinking"), (3.25, "speaking"),
        (4.25, "thinking"), (4.75, "speaking"), (6.25, "listening")]
    assert items(r) == [
        ("user", Q), ("assistant", "Let me check."),
        ("call", "get_weather", '{"location": "Paris"}'),
        ("output", "get_weather", "sunny in Paris", False),
        ("assistant", "It is sunny in Paris.")]
    (executed,) = r.of_type("function_tools_executed")
    assert executed.time == approx(4.25)
    assert [c.name for c in executed.event.function_calls] == ["get_weather"]
    assert [(p.start, p.end) for p in r.playbacks] == [(approx(3.25), approx(4.25)),
                                                        (approx(4.75), approx(6.25))]
    (speech,) = r.of_type("speech_created")
    assert speech.event.speech_handle.num_steps == 2


def test_unknown_tool_invalid_arguments_and_failing_tools_go_back_to_the_llm() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=Q)
    s.llm_reply(input=Q, tool_calls=[
        FakeToolCall("teleport", {}), FakeToolCall("get_weather", {"city": "Paris"}),
        FakeToolCall("broken", {}), FakeToolCall("refuses", {})])
    s.llm_reply(input=None, content="Sorry, something went wrong.")
    r = run(s, agent=Weather())
    outputs = [i for i in items(r) if i[0] == "output"]
    assert outputs[0] == ("output", "teleport", "Unknown function: teleport", True)
    assert outputs[1][1] == "get_weather"
    assert "location" in outputs[1][2]
    assert outputs[1][3] is True
    assert outputs[2] == ("output", "broken", "An internal error occurred", True)
    assert outputs[3] == ("output", "refuses", "the city is unknown", True)
    assert items(r)[-1] == ("assistant", "Sorry, something went wrong.")
    assert r.session.agent_state == "listening"


def test_max_tool_steps_counts_tool_rounds_then_asks_for_an_answer() -> None:
    """LiveKit's rule: after the first LLM call, a model that keeps calling tools gets up to
    ``max_tool_steps`` (3) + 1 rounds of tools, each followed by a call; the call after the
    last round is made with ``tool_choice="none"`` so the user hears an answer."""
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=Q)
    s.llm_reply(input=None, tool_calls=[FakeToolCall("get_weather", {"location": "Paris"})])
    r = run(s, agent=Weather(delay=0.0))
    assert r.llm is not None
    calls = [c for c in r.llm.calls if c.completed]
    # preemptive call 2.7-3.0 (its tools wait for the commit, 3.05), then one call per round
    assert [(c.time, c.tool_choice) for c in calls] == [
        (approx(2.7), "auto"), (approx(3.05), "auto"), (approx(3.35), "auto"),
        (approx(3.65), "auto"), (approx(3.95), "none")]
    assert len(r.of_type("function_tools_executed")) == 4
    assert r.session.agent_state == "listening"


def test_max_tool_steps_option() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=Q)
    s.llm_reply(input=None, tool_calls=[FakeToolCall("get_weather", {"location": "Paris"})])
    r = run(s, agent=Weather(delay=0.0), options={"max_tool_steps": 1})
    assert r.llm is not None
    calls = [c for c in r.llm.calls if c.completed]
    assert [(c.time, c.tool_choice) for c in calls] == [
        (approx(2.7), "auto"), (approx(3.05), "auto"), (approx(3.35), "none")]
    assert len(r.of_type("function_tools_executed")) == 2


class Greeter(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Greet the user.")

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Say hello.")

    async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                     new_message: ChatMessage) -> None:
        self.session.say("One moment.")

    @function_tool
    async def goodbye(self, context: RunContext[Any]) -> None:
        """End the call."""
        context.session.say("Goodbye!", allow_interruptions=False)


def test_greeting_say_from_the_hook_and_a_goodbye_tool() -> None:
    s = Script()
    s.llm_reply(input="Say hello.", content="Hello there!")
    s.tts_audio(input="Hello there!", audio_duration=1.0)
    s.user_speech(start=2.0, end=3.0, transcript="Bye.")
    s.tts_audio(input="One moment.", audio_duration=0.5)
    s.llm_reply(input="Bye.", tool_calls=[FakeToolCall("goodbye", {})])
    s.tts_audio(input="Goodbye!", audio_duration=0.8)
    r = run(s, agent=Greeter())
    # greeting: LLM 0-0.3, TTS 0.3 -> audio 0.5-1.5; the turn commits at 3.55: "One moment."
    # (TTS 3.55 -> 3.75-4.25), then the reply (its LLM was preempted at 3.2) calls goodbye,
    # which queues "Goodbye!" after it: 4.25 -> TTS -> 4.45-5.25
    assert [(p.text, p.start, p.end) for p in r.playbacks] == [
        ("Hello there!", approx(0.5), approx(1.5)),
        ("One moment.", approx(3.75), approx(4.25)),
        ("Goodbye!", approx(4.45), approx(5.25))]
    assert items(r) == [
        ("assistant", "Hello there!"), ("user", "Bye."), ("assistant", "One moment."),
        ("call", "goodbye", "{}"), ("output", "goodbye", "", False), ("assistant", "Goodbye!")]
    sources = [e.event.source for e in r.of_type("speech_created")]
    assert sources == ["generate_reply", "say", "generate_reply", "say"]


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a receptionist.")
        self.exited_at: float | None = None

    @function_tool
    async def transfer_to_sales(self) -> Agent:
        """Transfer the user to sales."""
        return Sales(chat_ctx=self.chat_ctx)

    async def on_exit(self) -> None:
        self.exited_at = asyncio.get_running_loop().time()


class Sales(Agent):
    def __init__(self, chat_ctx: ChatContext) -> None:
        super().__init__(instructions="You sell things.", chat_ctx=chat_ctx)

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Introduce yourself as sales.")


def test_handoff_between_agents_keeps_the_history() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="I want to buy.")
    s.llm_reply(input="I want to buy.", content="Transferring you.",
                tool_calls=[FakeToolCall("transfer_to_sales", {})])
    s.tts_audio(input="Transferring you.", audio_duration=1.0)
    s.llm_reply(input="Introduce yourself as sales.", content="Hi, this is sales.")
    s.tts_audio(input="Hi, this is sales.", audio_duration=1.0)
    receptionist = Receptionist()
    r = run(s, agent=receptionist)
    assert isinstance(r.session.current_agent, Sales)
    assert receptionist.exited_at == approx(4.25)
    assert items(r) == [
        ("user", "I want to buy."), ("assistant", "Transferring you."),
        ("call", "transfer_to_sales", "{}"), ("output", "transfer_to_sales", "", False),
        ("agent_handoff",), ("assistant", "Hi, this is sales.")]
    handoff = [i for i in r.history.items if i.type == "agent_handoff"][0]
    assert (handoff.old_agent_id, handoff.new_agent_id) == ("receptionist", "sales")
    # the sales agent continues the receptionist's context, including what was played before
    # the tool call and the call itself (recorded after the tool copied the context)
    assert r.llm is not None
    sales_call = r.llm.calls[-1]
    assert [(i.type, getattr(i, "role", None), getattr(i, "text_content", None) or
             getattr(i, "name", None)) for i in sales_call.chat_ctx.items] == [
        ("message", "system", "You sell things."), ("message", "user", "I want to buy."),
        ("message", "assistant", "Transferring you."),
        ("function_call", None, "transfer_to_sales"),
        ("function_call_output", None, "transfer_to_sales"),
        ("message", "system", "Introduce yourself as sales.")]
    assert [(p.start, p.end) for p in r.playbacks][1] == (approx(4.75), approx(5.75))


def test_user_away_waits_for_a_slow_tool() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=Q)
    s.llm_reply(input=Q, tool_calls=[FakeToolCall("get_weather", {"location": "Paris"})])
    s.llm_reply(input="sunny in Paris", content="Sunny.")
    s.tts_audio(input="Sunny.", audio_duration=0.5)
    r = run(s, agent=Weather(delay=20.0), duration=45.0)
    # the tool runs 3.05-23.05 (agent thinking, the away timer does not run); the follow-up
    # plays 23.55-24.05; 15 s later the user is away
    assert states(r.agent_states)[-3:] == [(3.05, "thinking"), (23.55, "speaking"),
                                           (24.05, "listening")]
    assert states(r.user_states) == [(0.5, "speaking"), (2.5, "listening"), (39.05, "away")]
