"""function_tool schemas and execute_function_call's contract: errors go back to the model."""

from __future__ import annotations

import enum
import logging
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from flowagents.llm import (
    FunctionCall,
    FunctionTool,
    RawFunctionTool,
    RunContext,
    ToolError,
    execute_function_call,
    find_function_tools,
    function_tool,
)
from flowagents.llm.tool_context import HandoffTarget


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@function_tool
async def get_weather(
    location: Annotated[str, Field(description="City and country")],
    unit: Unit = Unit.C,
    days: int = 1,
    detail: Literal["short", "long"] | None = None,
) -> str:
    """Get the weather forecast.

    Args:
        location: Ignored, Annotated wins.
        unit: The temperature unit.
        days (int): How many days,
            counted from today.
    """
    return f"{location}:{unit.value}:{days}:{detail}"


class Agent:  # stands in for flowagents.voice.Agent: tools are methods, bound at lookup
    def __init__(self, name: str) -> None:
        self.name = name
        self.userdata_seen: Any = None

    @function_tool(name="greet", description="Say hello.")
    def hello(self, ctx: RunContext[dict[str, str]], who: str) -> str:
        self.userdata_seen = ctx.userdata
        return f"{self.name} greets {who}"

    @function_tool
    async def fail(self) -> None:
        """Always fails."""
        raise RuntimeError("db password=hunter2")

    @function_tool
    async def refuse(self, reason: str) -> None:
        raise ToolError(f"cannot do that: {reason}")

    def not_a_tool(self) -> None: ...


class Session:
    userdata = {"user": "ada"}


def _call(name: str, arguments: str = "{}") -> FunctionCall:
    return FunctionCall(call_id="call_1", name=name, arguments=arguments)


def _ctx(call: FunctionCall) -> RunContext[Any]:
    return RunContext(session=Session(), speech_handle=None, function_call=call)


def test_schema_from_hints_and_docstring() -> None:
    assert isinstance(get_weather, FunctionTool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the weather forecast."
    params = get_weather.parameters
    assert params["required"] == ["location"]
    props = params["properties"]
    assert props["location"] == {"type": "string", "description": "City and country"}
    assert props["days"] == {"type": "integer", "default": 1,
                             "description": "How many days, counted from today."}
    assert props["unit"]["description"] == "The temperature unit."
    assert params["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert {"enum": ["short", "long"], "type": "string"} in props["detail"]["anyOf"]
    assert "title" not in params
    assert "title" not in props["location"]
    assert get_weather.openai_schema() == {"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather forecast.", "parameters": params}}


def test_a_property_named_title_survives_schema_cleaning() -> None:
    @function_tool
    def note(title: str) -> None:
        """Take a note."""

    assert list(note.parameters["properties"]) == ["title"]


def test_method_tools_are_bound_and_run_context_is_hidden() -> None:
    agent = Agent("bob")
    tools = find_function_tools(agent)
    assert [t.name for t in tools] == ["greet", "fail", "refuse"]
    greet = tools[0]
    assert greet.description == "Say hello."
    assert greet.parameters["properties"] == {"who": {"type": "string"}}
    assert greet.parameters["required"] == ["who"]
    assert Agent.hello.name == "greet"  # unbound access gives the tool itself


def test_find_function_tools_honours_overrides() -> None:
    class Child(Agent):
        def fail(self) -> None:  # type: ignore[override]  # no longer a tool
            ...

        @function_tool
        async def extra(self) -> str:
            return "x"

    assert [t.name for t in find_function_tools(Child("c"))] == ["greet", "refuse", "extra"]


async def test_runs_sync_method_with_injected_context() -> None:
    agent = Agent("bob")
    call = _call("greet", '{"who": "ann"}')
    ex = await execute_function_call(call, find_function_tools(agent), _ctx(call))
    assert ex.output is not None
    assert ex.output.output == "bob greets ann"
    assert not ex.output.is_error
    assert ex.output.call_id == "call_1"
    assert ex.output.name == "greet"
    assert agent.userdata_seen == {"user": "ada"}
    assert ex.reply_required
    assert ex.exception is None


async def test_unknown_function() -> None:
    ex = await execute_function_call(_call("nope"), [get_weather], None)
    assert ex.output is not None
    assert ex.output.is_error
    assert ex.output.output == "Unknown function: nope"


@pytest.mark.parametrize(("arguments", "expected"), [
    ("{}", "Invalid arguments for function get_weather: location: Field required"),
    ('{"location": "Paris", "days": "many"}', "Invalid arguments for function get_weather: "
     "days: Input should be a valid integer, unable to parse string as an integer"),
    ('{"location": "Paris", "unit": "kelvin"}', "Invalid arguments for function get_weather: "
     "unit: Input should be 'celsius' or 'fahrenheit'"),
    ("{not json", "Invalid arguments for function get_weather: the arguments are not valid JSON"),
    ("[1]", "Invalid arguments for function get_weather: the arguments must be a JSON object"),
])
async def test_invalid_arguments(arguments: str, expected: str) -> None:
    ex = await execute_function_call(_call("get_weather", arguments), {"get_weather": get_weather})
    assert ex.output is not None
    assert ex.output.is_error
    assert ex.output.output == expected


async def test_valid_arguments_are_coerced() -> None:
    call = _call("get_weather", '{"location": "Paris", "unit": "fahrenheit", "days": 3}')
    ex = await execute_function_call(call, [get_weather])
    assert ex.output is not None
    assert ex.output.output == "Paris:fahrenheit:3:None"


async def test_exception_is_hidden_logged_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    agent = Agent("bob")
    with caplog.at_level(logging.ERROR, logger="flowagents.llm"):
        ex = await execute_function_call(_call("fail"), find_function_tools(agent))
    assert ex.output is not None
    assert ex.output.is_error
    assert ex.output.output == "An internal error occurred"
    assert isinstance(ex.exception, RuntimeError)
    assert [r.getMessage() for r in caplog.records] == ["error while executing a function tool"]
    assert "hunter2" not in ex.output.model_dump_json()


async def test_tool_error_message_goes_to_the_model() -> None:
    ex = await execute_function_call(_call("refuse", '{"reason": "policy"}'),
                                     find_function_tools(Agent("a")))
    assert ex.output is not None
    assert ex.output.is_error
    assert ex.output.output == "cannot do that: policy"


async def test_missing_run_context_is_an_internal_error() -> None:
    ex = await execute_function_call(_call("greet", '{"who": "x"}'),
                                     find_function_tools(Agent("a")), None)
    assert ex.output is not None
    assert ex.output.output == "An internal error occurred"


class Weather(BaseModel):
    temp: float


class Handoff(HandoffTarget):
    """Any HandoffTarget (``flowagents.voice.Agent`` is one) returned by a tool is a handoff."""


NamedAgent = type("Agent", (), {"__module__": "flowagents.voice.agent"})


@pytest.mark.parametrize(("value", "text", "reply"), [
    (None, "", False),
    ("plain", "plain", True),
    (Weather(temp=1.5), '{"temp":1.5}', True),
    ({"a": [1, Unit.C]}, '{"a": [1, "celsius"]}', True),
    (3, "3", True),
    (Unit.F, "fahrenheit", True),
])
async def test_return_values(value: Any, text: str, reply: bool) -> None:
    @function_tool
    async def tool() -> Any:
        return value

    ex = await execute_function_call(_call("tool"), [tool])
    assert ex.output is not None
    assert ex.output.output == text
    assert not ex.output.is_error
    assert ex.raw_result is value
    assert ex.reply_required is reply


async def test_returning_an_agent_is_a_handoff() -> None:
    agent = Handoff()

    @function_tool
    async def transfer() -> Any:
        return agent, "Transferring you now."

    ex = await execute_function_call(_call("transfer"), [transfer])
    assert ex.raw_result[0] is agent
    assert ex.output is not None
    assert ex.output.output == "Transferring you now."


async def test_a_class_merely_named_agent_is_not_a_handoff() -> None:
    impostor = NamedAgent()

    @function_tool
    async def transfer() -> Any:
        return impostor

    ex = await execute_function_call(_call("transfer"), [transfer])
    assert ex.output is not None
    assert ex.output.output == str(impostor)


async def test_raw_function_tool() -> None:
    seen: dict[str, Any] = {}

    @function_tool(raw_schema={"name": "lookup", "description": "Look up a key.", "parameters": {
        "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}})
    async def lookup(raw_arguments: dict[str, Any], ctx: RunContext[Any]) -> str:
        seen.update(raw_arguments)
        return "found"

    assert isinstance(lookup, RawFunctionTool)
    assert lookup.openai_schema()["function"]["parameters"]["required"] == ["key"]
    call = _call("lookup", '{"key": "k"}')
    ex = await execute_function_call(call, [lookup], _ctx(call))
    assert ex.output is not None
    assert ex.output.output == "found"
    assert seen == {"key": "k"}
    ex = await execute_function_call(_call("lookup"), [lookup], _ctx(call))
    assert ex.output is not None
    assert ex.output.output == "Invalid arguments for function lookup: key: Field required"


def test_decorated_function_stays_callable() -> None:
    @function_tool
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1) == 3


def test_varargs_are_rejected() -> None:
    with pytest.raises(TypeError, match="not supported"):
        @function_tool
        def bad(*args: int) -> None: ...
