"""The small model's prompt: one system message, the example, extra instructions answered last."""

from __future__ import annotations

from flowagents.plugins.llama_prompt import (
    EXAMPLE,
    TOOL_OUTPUT,
    TOOLS,
    VOICE_STYLE,
    grounded,
    small_model_messages,
    tool_lines,
    user_spans,
    user_spelling,
)

SPEC = {"name": "lookup_weather", "description": "Look up the weather in a city.",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city."}}}}


def test_a_greeting_is_the_last_user_turn_after_one_system_message() -> None:
    out = small_model_messages([
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "system", "content": "Greet the user."},
    ])
    assert out[0] == {"role": "system",
                      "content": f"You are a weather assistant.\n{VOICE_STYLE}"}
    shown = [(q["content"], a["content"]) for q, a in zip(out[1:-1:2], out[2:-1:2], strict=True)]
    assert shown == list(EXAMPLE)
    assert [m["role"] for m in out[1:-1]] == ["user", "assistant"] * len(EXAMPLE)
    assert out[-1] == {"role": "user", "content": "[Greet the user.]"}


def test_tools_are_described_only_for_a_call_after_the_users_message() -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Weather in Paris?"}]
    text = small_model_messages(messages, example=False)
    assert all("lookup_weather" not in m["content"] for m in text)
    call = small_model_messages(messages, call_specs=[SPEC], example=False)
    # the call's prompt is the text reply's up to the user's last turn (llama.cpp keeps that
    # prefix in its KV cache), which the tools open
    assert call[:-1] == text[:-1]
    assert call[-1] == {"role": "user", "content": TOOLS.format(tools=tool_lines([SPEC]))
                        + "\nWeather in Paris?"}
    assert tool_lines([SPEC]) in call[-1]["content"]


def test_a_tool_output_is_a_user_turn_in_words() -> None:
    out = small_model_messages([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "c1", "type": "function",
            "function": {"name": "lookup_weather", "arguments": '{"location": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1",
         "content": '{"location": "Paris", "weather": "cloudy", "temperature_celsius": 15}'},
    ], example=False)
    assert out[1:] == [{"role": "user", "content": "Weather in Paris?\n" + TOOL_OUTPUT.format(
        tool="lookup weather", output="location Paris; weather cloudy; temperature celsius 15.",
        question="Weather in Paris?")}]
    assert "{" not in out[1]["content"]


def test_text_said_before_a_call_stays() -> None:
    out = small_model_messages([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [{
            "id": "c1", "type": "function",
            "function": {"name": "lookup_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "cloudy"},
    ], example=False)
    assert [m["role"] for m in out[1:]] == ["user", "assistant", "user"]
    assert out[2]["content"] == "Let me check."
    assert out[3]["content"].startswith("The lookup weather tool found: cloudy")


def test_instructions_in_the_middle_stay_there_and_user_turns_merge() -> None:
    out = small_model_messages([
        {"role": "system", "content": "A."},
        {"role": "user", "content": "Hi."},
        {"role": "system", "content": "Be formal."},
        {"role": "user", "content": "Who are you?"},
    ], example=False)
    assert out[1:] == [{"role": "user", "content": "Hi.\n[Be formal.]\nWho are you?"}]


def test_arguments_take_the_users_spelling() -> None:
    assert user_spelling({"location": "tokyo", "days": 2}, "Weather in Tokyo?") == {
        "location": "Tokyo", "days": 2}
    assert user_spelling({"location": "Kyoto"}, "Weather in Tokyo?") == {"location": "Kyoto"}
    assert user_spelling({"location": "to"}, "Weather in Tokyo?") == {"location": "to"}


def test_user_spans_are_the_runs_of_words_that_could_name_a_thing() -> None:
    assert user_spans("What is the weather in Tokyo?") == ["weather", "weather in Tokyo",
                                                           "Tokyo"]
    assert user_spans("what's it like in tokyo") == ["tokyo"]  # as the transcript has it
    # within one clause, spelled as said, never opening or closing on a function word
    assert user_spans("I'm flying to Tokyo, what's the weather there?") == [
        "flying", "flying to Tokyo", "Tokyo", "weather"]
    assert "New York City" in user_spans("Is it raining in New York City right now?")
    assert "St. Louis" in user_spans("Weather in St. Louis?")
    assert all(not s.lower().startswith(("in ", "the ")) and not s.endswith(" now")
               for s in user_spans("Is it raining in New York City right now?"))
    assert user_spans("Who are you?") == []
    assert max(len(s.split()) for s in user_spans("one two three four five six")) == 4


def test_a_free_string_argument_is_restricted_to_the_users_words() -> None:
    params = {"type": "object", "required": ["location"], "properties": {
        "location": {"type": "string", "description": 'The city, for example "Tokyo".'},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"}}}
    out = grounded(params, ["Spain", "people"])
    assert out is not None
    assert out["properties"]["location"] == {**params["properties"]["location"],
                                             "enum": ["Spain", "people"]}
    # an enum, a number: left as they are; the schema given is not changed
    assert out["properties"]["unit"] == params["properties"]["unit"]
    assert out["properties"]["days"] == {"type": "integer"}
    assert "enum" not in params["properties"]["location"]
    # nothing the user said could be the required place: no call rather than a guess
    assert grounded(params, []) is None
    optional = {**params, "required": []}
    assert "location" not in (grounded(optional, []) or {})["properties"]
    assert grounded({"type": "object", "properties": {}}, []) == {"type": "object",
                                                                  "properties": {}}


def test_the_grammar_of_a_grounded_call_allows_only_the_users_words() -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    from flowagents.plugins.llama import _arguments_gbnf

    params = grounded(SPEC["parameters"], user_spans("What language do people speak in Spain?"))
    assert params is not None
    text = _arguments_gbnf({**SPEC, "parameters": params})
    assert '"\\"Spain\\""' in text
    assert "Tokyo" not in text
    assert 'location ::= "\\"' in text  # alternatives of literals, no free string rule
    assert "char" not in text.split("location ::=")[1].split("\n")[0]
    LlamaGrammar.from_string(text, verbose=False)  # llama.cpp parses it


def test_a_grounded_single_string_keeps_its_value_only_path() -> None:
    """A call whose arguments are one required string has its opening, key and quote read with
    the prompt and only its value sampled; grounded, that value is one of the user's words."""
    from llama_cpp.llama_grammar import LlamaGrammar

    from flowagents.plugins.llama import _VALUE_GBNF, _single_string, _value_gbnf

    spec = {**SPEC, "parameters": {**SPEC["parameters"], "required": ["location"]}}
    assert _single_string(spec) == "location"
    assert _value_gbnf(spec) == _VALUE_GBNF
    params = grounded(spec["parameters"], user_spans("Is it raining in New York right now?"))
    assert params is not None
    mine = {**spec, "parameters": params}
    assert _single_string(mine) == "location"
    assert _value_gbnf(mine) == (
        'root ::= ("raining" | "raining in New" | "raining in New York" | "New" | "New York" '
        '| "York") "\\""')
    LlamaGrammar.from_string(_value_gbnf(mine), verbose=False)
    # a word that would need an escape leaves the value-only path (the JSON schema's grammar
    # escapes it)
    quoted = grounded(spec["parameters"], ['say "hi"'])
    assert quoted is not None
    assert _single_string({**spec, "parameters": quoted}) is None
