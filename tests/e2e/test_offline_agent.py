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

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from eval_kit import answer  # noqa: E402
from eval_set import GREETING_KEYWORDS, ITEMS, contradictions, has_keyword  # noqa: E402

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
