"""The small model's prompt: one system message, the example, extra instructions answered last."""

from __future__ import annotations

from flowagents.plugins.llama_prompt import (
    EXAMPLE,
    TOOL_OUTPUT,
    TOOLS,
    VOICE_STYLE,
    small_model_messages,
    tool_lines,
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
