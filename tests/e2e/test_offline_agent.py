"""The offline agent as a user hears it: whole sentences, the greeting it was asked for, and the
README's main job (``scripts/console.sh``: ``examples/weather.py`` hearing
``examples/audio/question.wav``) answering from its weather tool.

A part of the evaluation set (``bench/eval_set.py``; the whole set runs in
``bench/bench_offline_eval.py``) is answered through the weather agent's tool loop, as text:
every reply must end on a sentence end, even one cut by a small token cap.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from eval_kit import answer  # noqa: E402
from eval_set import (  # noqa: E402
    GREETING_KEYWORDS,
    HELD_OUT,
    ITEMS,
    contradictions,
    has_keyword,
)

from flowagents.cli.console_cmd import load_agent_app, run_wav  # noqa: E402
from flowagents.llm import ChatContext  # noqa: E402
from flowagents.plugins.llama import LlamaLLM  # noqa: E402
from flowagents.plugins.local import LocalProviders, local_providers  # noqa: E402

pytestmark = pytest.mark.e2e

WEATHER = ROOT / "examples" / "weather.py"
MINIMAL = ROOT / "examples" / "minimal.py"
QUESTION_WAV = ROOT / "examples" / "audio" / "question.wav"
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
SAMPLE = [item for i, item in enumerate(ITEMS) if i % 5 == 0]  # every kind, a fifth of the set


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProviders]:
    providers = local_providers()
    asyncio.run(providers.warm_up())
    yield providers
    asyncio.run(providers.aclose())


def weather_agent() -> object:
    return load_agent_app(str(WEATHER)).create_agent()


async def test_replies_of_the_evaluation_end_on_a_sentence_end(local: LocalProviders) -> None:
    agent = weather_agent()
    replies = [(await answer(local.llm, agent, item.question)).text for item in SAMPLE]
    assert len(replies) >= 8
    for reply in replies:
        assert SENTENCE_END.search(reply.strip()), reply
        assert contradictions(reply) == [], reply  # no markup, at most two sentences, ...


async def test_a_reply_cut_by_the_token_cap_still_ends_on_a_sentence_end(
        local: LocalProviders) -> None:
    short = LlamaLLM(max_tokens=12)
    try:
        ctx = ChatContext()
        ctx.add_message(role="user", content="Tell me about the history of Tokyo in detail.")
        chunks = [c.delta async for c in short.chat(chat_ctx=ctx)]
    finally:
        await short.aclose()
    reply = "".join(chunks).strip()
    assert SENTENCE_END.search(reply), reply
    assert len(short._llama.tokenize(reply.encode(), add_bos=False)) <= 12 + 8 + 1


async def test_greetings_follow_the_instructions_and_vary(local: LocalProviders) -> None:
    weather = load_agent_app(str(WEATHER)).module
    agent = weather_agent()
    greetings = [(await answer(local.llm, agent, None,
                               extra_instructions=weather.GREETING)).text for _ in range(6)]
    for greeting in greetings:
        assert has_keyword(greeting, GREETING_KEYWORDS), greeting
        assert contradictions(greeting) == [], greeting
        assert SENTENCE_END.search(greeting.strip()), greeting
    assert len(set(greetings)) >= 2, greetings


async def test_the_main_job_calls_the_weather_tool_for_tokyo_and_answers_from_it(
        local: LocalProviders) -> None:
    out = io.StringIO()
    watch = await run_wav(load_agent_app(str(WEATHER)), local, QUESTION_WAV, None, limit=120.0,
                          out=out)
    printed = out.getvalue()
    items = list(watch.session.history.items)
    calls = [i for i in items if i.type == "function_call"]
    outputs = [i for i in items if i.type == "function_call_output"]
    assert [c.name for c in calls] == ["lookup_weather"], printed
    assert json.loads(calls[0].arguments)["location"].strip().lower() == "tokyo"
    result = json.loads(outputs[0].output)
    assert result["weather"] == "sunny"
    assert "[tool] lookup_weather(" in printed
    assert "Tokyo" in printed
    said = [i.text_content or "" for i in items
            if i.type == "message" and i.role == "assistant"]
    greeting, answer_text = said[0], said[-1]
    assert has_keyword(greeting, GREETING_KEYWORDS), greeting
    assert items.index(outputs[0]) < items.index(
        next(i for i in reversed(items) if i.type == "message" and i.role == "assistant"))
    assert has_keyword(answer_text, ("sunny", "24")), answer_text
    assert SENTENCE_END.search(answer_text.strip()), answer_text


def weather_specs(agent: Any) -> list[dict[str, Any]]:
    from flowagents.plugins.llama import _tool_specs

    return _tool_specs(agent.tools, "auto")


def test_the_router_calls_the_tool_for_weather_questions_only(local: LocalProviders) -> None:
    """Every question of the evaluation set is routed right ("What language do people speak
    in Spain?" called the weather tool, "Is it raining in London right now?" did not); of the
    held-out paraphrases, at most one is routed wrongly (the implicit "Should I wear a jacket
    in Paris?")."""
    specs = weather_specs(weather_agent())
    router = local.llm._route_model()  # type: ignore[attr-defined]

    def wrong(items: tuple[Any, ...]) -> list[str]:
        return [i.question for i in items
                if (router.route(i.question, specs) == "lookup_weather") != (i.kind == "tool")]

    assert wrong(ITEMS) == []
    assert len(wrong(HELD_OUT)) <= 1, wrong(HELD_OUT)


async def test_a_call_names_only_what_the_user_said(local: LocalProviders) -> None:
    """The tool's description says 'for example "Tokyo"': SmolLM2 called the tool with
    Tokyo for a question about Spain. A call's city is now one of the user's words."""
    agent: Any = weather_agent()

    async def call(question: str, choice: Any) -> list[tuple[str, dict[str, object]]]:
        ctx = ChatContext()
        ctx.add_message(role="system", content=agent.instructions)
        ctx.add_message(role="user", content=question)
        chunks = [c async for c in local.llm.chat(chat_ctx=ctx, tools=list(agent.tools),
                                                  tool_choice=choice)]
        return [(t.name, json.loads(t.arguments)) for c in chunks for t in c.tool_calls]

    assert await call("What's the weather like in Oslo?", "auto") == [
        ("lookup_weather", {"location": "Oslo"})]
    assert await call("What language do people speak in Spain?", "auto") == []
    # made to call, it names what the user said, or makes no call when the user named nothing
    assert await call("What language do people speak in Spain?", "required") == [
        ("lookup_weather", {"location": "Spain"})]
    assert await call("Who are you?", "required") == []


async def test_an_answer_from_the_tools_output_says_what_it_found(local: LocalProviders) -> None:
    """It said "Yes, it is." to "Is it sunny in Paris?" with the tool's "cloudy" before it."""
    for question, found in [("Is it sunny in Paris?", "cloudy"),
                            ("Is it raining in London right now?", "rainy")]:
        ans = await answer(local.llm, weather_agent(), question)
        assert [name for name, _ in ans.calls] == ["lookup_weather"], ans
        assert has_keyword(ans.text, (found,)), ans.text
        assert not ans.text.lower().startswith(("yes", "no")), ans.text
