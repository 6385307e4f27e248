"""examples/weather.py: the weather tool, preemptive generation and the interruption options."""

from __future__ import annotations

import json

import pytest

from flowagents.runtime import run_virtual
from flowagents.testing import FakeToolCall, Script, SimulationResult, simulate

from .conftest import load_example

weather = load_example("weather")

HELLO = "Hi! Which city?"
QUESTION = "What's the weather in Tokyo?"
CHECKING = "Let me check."
TOKYO = json.dumps({"location": "Tokyo", "weather": "sunny", "temperature_celsius": 24})
ANSWER = "It is sunny and 24 degrees in Tokyo."


def script() -> Script:
    return (Script()
            .llm_reply(input=weather.GREETING, content=HELLO)
            .tts_audio(input=HELLO, audio_duration=1.0)
            .user_speech(start=2.0, end=3.5, transcript=QUESTION, stt_delay=0.2)
            .llm_reply(input=QUESTION, content=CHECKING,
                       tool_calls=[FakeToolCall("lookup_weather", {"location": "Tokyo"})])
            .tts_audio(input=CHECKING, audio_duration=0.8)
            .llm_reply(input=TOKYO, content=ANSWER)
            .tts_audio(input=ANSWER, audio_duration=2.0))


def run(s: Script, **kwargs: object) -> SimulationResult:
    return run_virtual(simulate(s, agent=weather.WeatherAgent(),
                                options=weather.SESSION_OPTIONS, **kwargs))  # type: ignore[arg-type]


def test_weather_tool_is_called_and_answered() -> None:
    r = run(script())
    calls = [i for i in r.history.items if i.type == "function_call"]
    outputs = [i for i in r.history.items if i.type == "function_call_output"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("lookup_weather", {"location": "Tokyo"})]
    assert [json.loads(o.output) for o in outputs] == [json.loads(TOKYO)]
    assert [(role, text) for role, text, _ in r.messages()] == [
        ("assistant", HELLO), ("user", QUESTION), ("assistant", CHECKING), ("assistant", ANSWER)]
    assert len(r.of_type("function_tools_executed")) == 1
    assert r.agent_states[-1][1] == "listening"


def test_reply_starts_preemptively_on_the_final_transcript() -> None:
    r = run(script())
    assert r.llm is not None
    (turn_call,) = [c for c in r.llm.calls if c.input == QUESTION]
    assert turn_call.time == pytest.approx(3.7, abs=1e-6)  # final transcript: 3.5 + 0.2


def test_unknown_city_goes_back_to_the_model_as_a_tool_error() -> None:
    s = (Script()
         .user_speech(start=0.5, end=1.5, transcript="Weather on Mars?")
         .llm_reply(input="Weather on Mars?",
                    tool_calls=[FakeToolCall("lookup_weather", {"location": "Mars"})]))
    r = run(s)
    (output,) = [i for i in r.history.items if i.type == "function_call_output"]
    assert output.is_error
    assert "Mars" in output.output


def test_a_cough_while_the_agent_speaks_does_not_interrupt_it() -> None:
    s = script().user_speech(start=0.7, end=1.0)  # 0.3 s of noise during the greeting
    r = run(s)
    assert r.playbacks[0].interrupted is False
    assert r.playbacks[0].position == pytest.approx(1.0, abs=1e-6)
