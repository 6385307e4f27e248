"""A whole voice session on the four offline models, with spoken questions as the user.

The bundled Piper questions (``examples/audio/*.wav``) go in through a real ``AgentSession`` in
real time (the session's clock is the loop's; see ``session_kit``): Silero hears them, Whisper
transcribes them, SmolLM2 answers (or calls the weather tool), Piper speaks, and the reply is
checked by ear (Silero finds speech in it, Whisper hears words). A second utterance while the
agent speaks interrupts it. Replies are cut after their first sentence to keep turns short.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jiwer
import pytest
from session_kit import (
    HELLO,
    HELLO_WAV,
    QUESTION,
    QUESTION_WAV,
    ShortAgent,
    read_wav,
    say_and_wait_answer,
    start_session,
)

from flowagents.llm import function_tool
from flowagents.plugins.local import LocalProviders, local_providers
from flowagents.types import AudioFrame, VADEventType

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProviders]:
    providers = local_providers()
    asyncio.run(providers.warm_up())
    yield providers
    asyncio.run(providers.aclose())


def normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def messages(session: Any) -> list[tuple[str, str, bool]]:
    return [(i.role, i.text_content, i.interrupted) for i in session.history.items
            if i.type == "message"]


async def test_a_spoken_question_is_heard_answered_and_spoken(local: LocalProviders) -> None:
    live = await start_session(local, ShortAgent())
    try:
        await say_and_wait_answer(live, HELLO_WAV)
    finally:
        await live.session.aclose()

    said = messages(live.session)
    assert [role for role, _, _ in said] == ["user", "assistant"], said
    heard = said[0][1]
    assert jiwer.wer(normalize(HELLO), normalize(heard)) <= 0.2, heard
    assert said[1][1].strip()
    # the reply as played: Silero finds speech in it, Whisper hears words
    pcm, rate = live.speaker.pcm()
    assert pcm.size / rate > 0.3
    reply = AudioFrame(pcm, rate)
    frames = [AudioFrame(pcm[i:i + rate // 50], rate, timestamp=i / rate)
              for i in range(0, pcm.size, rate // 50)]
    stream = local.vad.stream()
    events = [e for f in frames for e in stream.process(f)] + list(stream.flush())
    assert any(e.type is VADEventType.START_OF_SPEECH for e in events)
    transcript = await local.stt.recognize([reply])
    assert normalize(transcript.text), "Whisper heard nothing in the reply"
    # the turn was measured
    (turn,) = live.watch.turns
    assert turn.total is not None
    assert turn.llm_ttft is not None
    assert turn.tts_ttfb is not None


@function_tool
async def get_weather(location: str) -> str:
    """Get the current weather for a city.

    Args:
        location: The city name.
    """
    return f"It is sunny in {location}."


async def test_the_weather_question_calls_the_tool_with_tokyo(local: LocalProviders) -> None:
    agent = ShortAgent(instructions="You are a helpful voice assistant.", tools=[get_weather])
    live = await start_session(local, agent)
    executed = asyncio.Event()
    live.session.on("function_tools_executed", lambda ev: executed.set())
    try:
        await live.mic.say(read_wav(QUESTION_WAV)).wait()
        await asyncio.wait_for(executed.wait(), 60)
    finally:
        await live.session.aclose()

    items = live.session.history.items
    user = [i.text_content for i in items if i.type == "message" and i.role == "user"]
    assert jiwer.wer(normalize(QUESTION), normalize(user[0])) <= 0.2, user
    calls = [i for i in items if i.type == "function_call"]
    assert calls, "no tool call"
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments)["location"].strip().lower() == "tokyo"
    output = next(i for i in items if i.type == "function_call_output")
    assert output.call_id == call.call_id
    assert not output.is_error
    assert "Tokyo" in output.output


def load_weather_example() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "weather.py"
    spec = importlib.util.spec_from_file_location("e2e_example_weather", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_weather_agent_speaks_an_answer_from_the_tool_output(
        local: LocalProviders) -> None:
    """examples/weather.py (its agent, tool and session options; the greeting skipped): the
    question is answered by a call, then by speech that uses the tool's result, once."""
    weather = load_weather_example()

    class QuietStart(weather.WeatherAgent):  # type: ignore[name-defined,misc]
        async def on_enter(self) -> None:
            pass

    live = await start_session(local, QuietStart(), **weather.SESSION_OPTIONS)
    answered = asyncio.Event()

    def on_item(ev: Any) -> None:
        items = live.session.history.items
        outputs = [k for k, i in enumerate(items) if i.type == "function_call_output"]
        if (outputs and ev.item.role == "assistant" and ev.item.text_content
                and items.index(ev.item) > outputs[0]):
            answered.set()

    live.session.on("conversation_item_added", on_item)
    try:
        await live.mic.say(read_wav(QUESTION_WAV)).wait()
        await asyncio.wait_for(answered.wait(), 90)
    finally:
        await live.session.aclose()

    items = live.session.history.items
    calls = [i for i in items if i.type == "function_call"]
    assert [c.name for c in calls] == ["lookup_weather"], calls  # one call, not three
    assert json.loads(calls[0].arguments)["location"].strip().lower() == "tokyo"
    output = next(i for i in items if i.type == "function_call_output")
    assert "sunny" in output.output
    after = items[items.index(output) + 1:]
    answer = " ".join(i.text_content for i in after if i.type == "message"
                      and i.role == "assistant")
    assert re.search(r"sunny|24", answer.lower()), answer
    assert live.speaker.frames  # it was spoken


async def test_speaking_over_the_agent_interrupts_it(local: LocalProviders) -> None:
    agent = ShortAgent(instructions="You are a storyteller. Tell a long story about a dragon.",
                       min_words=1000, max_words=60)
    live = await start_session(local, agent)
    speaking = asyncio.Event()
    live.session.on("agent_state_changed",
                    lambda ev: ev.new_state == "speaking" and speaking.set())
    try:
        await live.mic.say(read_wav(HELLO_WAV)).wait()
        await asyncio.wait_for(speaking.wait(), 60)
        await asyncio.sleep(0.1)  # the agent is into its reply (a short one may end in ~2 s)
        barge_in = asyncio.get_running_loop().time()
        await live.mic.say(read_wav(QUESTION_WAV)).wait()
        for _ in range(600):  # until the barge-in is transcribed as the next user turn
            if len([m for m in messages(live.session) if m[0] == "user"]) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await live.session.aclose()

    said = messages(live.session)
    assert said[0][0] == "user"
    first_reply = said[1]
    assert first_reply[0] == "assistant"
    assert first_reply[2] is True, said  # cut where playout stopped
    assert live.speaker.first_frame_times[0] < barge_in
    # playout stopped soon after the second utterance began (0.5 s of speech decides it)
    second = live.mic.clip_starts[1] + 0.3  # the clip opens with 0.3 s of silence
    assert live.speaker.clears
    assert 0.0 < live.speaker.clears[0] - second < 1.5
    assert live.speaker.frames  # it did speak before the interruption
    users = [text for role, text, _ in said if role == "user"]
    assert len(users) == 2, said  # the barge-in became the next user turn
