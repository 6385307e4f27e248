"""ChatContext: ordering, copy, truncate, JSON round trip and the OpenAI message format."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flowagents.llm import (
    AgentHandoff,
    ChatContext,
    ChatMessage,
    FunctionCall,
    FunctionCallOutput,
    ImageContent,
)


def _ctx() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(role="system", content="You are helpful.", created_at=0.0, id="instr")
    ctx.add_message(role="user", content="Weather in Paris?", created_at=1.0)
    ctx.insert(FunctionCall(call_id="c1", name="get_weather", arguments='{"city": "Paris"}',
                            created_at=2.0))
    ctx.insert(FunctionCallOutput(call_id="c1", name="get_weather", output="sunny",
                                  created_at=3.0))
    ctx.add_message(role="assistant", content="It is sunny.", created_at=4.0)
    return ctx


def test_text_content_joins_text_parts_and_is_none_without_text() -> None:
    img = ImageContent(image="https://example.com/a.png")
    assert ChatMessage(role="user", content=["a", img, "b"]).text_content == "a\nb"
    assert ChatMessage(role="user", content=[img]).text_content is None
    assert ChatMessage(role="user", content="hi").content == ["hi"]


def test_insert_keeps_created_at_order_and_is_stable() -> None:
    ctx = ChatContext()
    a = ctx.add_message(role="user", content="a", created_at=1.0)
    c = ctx.add_message(role="user", content="c", created_at=3.0)
    b = ctx.add_message(role="assistant", content="b", created_at=1.0)
    ctx.insert([FunctionCall(call_id="x", name="f", created_at=2.0)])
    assert [i.id for i in ctx.items][:2] == [a.id, b.id]
    assert ctx.items[2].type == "function_call"
    assert ctx.items[3] is c
    assert ctx.index_by_id(c.id) == 3
    assert ctx.get_by_id(b.id) is b
    assert ctx.get_by_id("nope") is None
    assert ctx.index_by_id("nope") is None


def test_copy_filters_and_is_deep() -> None:
    ctx = _ctx()
    ctx.add_message(role="assistant", content=[], created_at=5.0)
    full = ctx.copy()
    assert [i.id for i in full.items] == [i.id for i in ctx.items]
    full.items[1].content.append("changed")  # type: ignore[union-attr]
    assert ctx.items[1].content == ["Weather in Paris?"]  # type: ignore[union-attr]
    assert [i.type for i in ctx.copy(exclude_function_call=True).items] == ["message"] * 4
    no_instr = ctx.copy(exclude_instructions=True).items
    assert [i.id for i in no_instr] == [i.id for i in ctx.items[1:]]
    assert len(ctx.copy(exclude_empty_message=True).items) == 5
    assert len(ctx.copy(tools=["other"]).items) == 4
    assert len(ctx.copy(tools=["get_weather"]).items) == 6


def test_truncate_keeps_instructions_and_drops_orphan_output() -> None:
    ctx = _ctx()
    ctx.truncate(max_items=3)  # tail would be [output, assistant]: the orphan output goes
    assert [i.type for i in ctx.items] == ["message", "message"]
    assert ctx.items[0].id == "instr"
    ctx = _ctx()
    ctx.truncate(max_items=4)  # [instr, call, output, assistant]: the call is kept with its output
    assert [i.type for i in ctx.items] == [
        "message", "function_call", "function_call_output", "message"]
    ctx = _ctx()
    assert ctx.truncate(max_items=10) is ctx
    assert len(ctx.items) == 5
    ctx.truncate(max_items=0)
    assert ctx.items == []


def test_truncate_without_instructions() -> None:
    ctx = ChatContext()
    for t in range(5):
        ctx.add_message(role="user", content=str(t), created_at=float(t))
    ctx.truncate(max_items=2)
    assert [i.text_content for i in ctx.items] == ["3", "4"]  # type: ignore[union-attr]


def test_json_round_trip() -> None:
    ctx = _ctx()
    ctx.add_message(role="user", content=["look", ImageContent.from_bytes(b"\x89PNG", "image/png")],
                    created_at=5.0)
    ctx.insert(AgentHandoff(old_agent_id=None, new_agent_id="sales", created_at=6.0))
    back = ChatContext.from_json(ctx.to_json())
    assert back == ctx
    assert ChatContext.from_dict(ctx.to_dict()).items[-1].type == "agent_handoff"
    no_img = ctx.to_dict(exclude_image=True, exclude_timestamp=True)
    assert no_img["items"][5]["content"] == ["look"]
    assert "created_at" not in no_img["items"][0]


def test_from_dict_rejects_unknown_item_type() -> None:
    with pytest.raises(ValidationError):
        ChatContext.from_dict({"items": [{"type": "bogus"}]})


def test_openai_format() -> None:
    ctx = ChatContext()
    ctx.add_message(role="developer", content="Be brief.", created_at=0)
    ctx.add_message(role="user", content=["What is this?", ImageContent(
        image="data:image/png;base64,AAAA", detail="low")], created_at=1)
    ctx.add_message(role="assistant", content="Let me check.", created_at=2)
    ctx.insert(FunctionCall(call_id="a", name="f", arguments="{}", created_at=3))
    ctx.insert(FunctionCall(call_id="b", name="g", arguments='{"x": 1}', created_at=3))
    ctx.insert(FunctionCallOutput(call_id="a", name="f", output="1", created_at=4))
    ctx.insert(FunctionCallOutput(call_id="b", name="g", output="2", is_error=True, created_at=4))
    ctx.insert(AgentHandoff(new_agent_id="x", created_at=5))
    ctx.insert(FunctionCall(call_id="c", name="f", created_at=6))
    assert ctx.to_provider_format("openai") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                "detail": "low"}}]},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x": 1}'}},
        ]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    ]
    with pytest.raises(ValueError):
        ctx.to_provider_format("anthropic")  # type: ignore[arg-type]
