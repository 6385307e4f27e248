"""LiveKit's three examples (``examples/livekit/``, only their imports changed) through the worker
and a room on the protocol-level stand-in: the fake LiveKit server dispatches a job over the agent
protocol, the job process runs the example file with the RTC fakes as its room and a scripted
user in it (``wk_examples``), and the hosted providers are the local servers of
``tests/providers``. ``tests/livekit/test_examples.py`` runs the same examples on a real LiveKit
server."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_server import FakeLiveKitServer
from livekit.protocol import agent
from wk_examples import entrypoint, prewarm, read_events

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests/providers package

from providers.cartesia_server import CartesiaServer  # noqa: E402
from providers.deepgram_server import DeepgramServer  # noqa: E402
from providers.openai_server import OpenAIServer, Reply, ToolCall  # noqa: E402
from providers.realtime_server import RealtimeServer  # noqa: E402
from providers.threaded import serve_in_thread  # noqa: E402

OPENAI_KEY = "sk-test-0123456789"
QUESTION = "What is the weather in Tokyo?"
WAV = "examples/audio/question.wav"


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer(api_key=OPENAI_KEY)
    with serve_in_thread(server):
        yield server


async def _run(server: FakeLiveKitServer, make_worker: Any, tmp_path: Path, example: str,
               env: dict[str, str], script: list[dict[str, str]]) -> list[dict[str, Any]]:
    await make_worker(entrypoint_fnc=entrypoint, prewarm_fnc=prewarm, num_idle_processes=1,
                      shutdown_process_timeout=10.0)
    meta = json.dumps({"out": str(tmp_path), "example": example, "env": env,
                       "script": script, "within": 40})
    await server.dispatch(server.make_job("J1", metadata=meta))
    error = await server.job_status("J1", agent.JS_SUCCESS, within=60)
    assert error == ""
    return read_events(tmp_path)


def _said(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["role"], e["text"], e["agent"]) for e in events if e["kind"] == "item"]


def _room(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["kind"] == "room")


async def test_example3_handoff(server: FakeLiveKitServer, make_worker: Any, tmp_path: Path,
                                openai_server: OpenAIServer) -> None:
    openai_server.replies.extend([
        Reply(tool_calls=[ToolCall("transfer_to_sales", "{}", "call_1")]),
        Reply(text="Let me connect you with sales."),
        Reply(text="The pro plan costs ten dollars a month.")])
    events = await _run(server, make_worker, tmp_path, "example3_handoff", {
        "OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": OPENAI_KEY},
        [{"chat": "I want to buy a plan."}, {"chat": "What does the pro plan cost?"}])
    assert [e for e in events if e["kind"] == "error"] == []
    assert next(e for e in events if e["kind"] == "started")["connected"]
    assert _said(events) == [
        ("user", "I want to buy a plan.", "ReceptionAgent"),
        ("assistant", "Let me connect you with sales.", "SalesAgent"),
        ("user", "What does the pro plan cost?", "SalesAgent"),
        ("assistant", "The pro plan costs ten dollars a month.", "SalesAgent")]
    systems = [c["messages"][0]["content"] for c in openai_server.requests("chat")]
    assert systems == ["You are a receptionist. Ask for user needs."] * 2 + [
        "You are a sales agent. Provide product info."]
    room = _room(events)
    agent_text = [t["text"] for t in room["transcriptions"] if t["sender"] is None]
    assert agent_text == ["Let me connect you with sales.",
                          "The pro plan costs ten dollars a month."]
    # "openai-tts": 0.1 s of tone per word, 6 + 8 words
    assert room["agent_audio"] == pytest.approx(1.4, abs=0.05)
    close = next(e for e in events if e["kind"] == "close")
    assert close["agent"] == "SalesAgent"
    assert [k for k, _ in close["history"]].count("agent_handoff") == 1


async def test_example2_tools_prewarm(server: FakeLiveKitServer, make_worker: Any,
                                      tmp_path: Path, openai_server: OpenAIServer) -> None:
    deepgram, cartesia = DeepgramServer(api_key="dg-key"), CartesiaServer(api_key="ca-key")
    deepgram.utterances.extend([QUESTION] + [""] * 10)
    answer = "It is sunny in Tokyo, 25 degrees."
    openai_server.replies.extend([
        Reply(tool_calls=[ToolCall("get_weather", '{"location": "Tokyo"}', "call_w")]),
        Reply(text=answer)])
    with serve_in_thread(deepgram), serve_in_thread(cartesia):
        events = await _run(server, make_worker, tmp_path, "example2_tools_prewarm", {
            "OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": OPENAI_KEY,
            "DEEPGRAM_BASE_URL": deepgram.base_url, "DEEPGRAM_API_KEY": "dg-key",
            "CARTESIA_BASE_URL": cartesia.base_url, "CARTESIA_API_KEY": "ca-key"},
            [{"say": WAV}])
    assert [e for e in events if e["kind"] == "error"] == []
    assert _said(events) == [("user", QUESTION, "WeatherAgent"),
                             ("assistant", answer, "WeatherAgent")]
    tools = [(e["calls"], e["outputs"]) for e in events if e["kind"] == "tools"]
    assert tools == [(["get_weather"], ["Tokyo is sunny, 25°C"])]
    listen = deepgram.requests("listen")
    assert (listen[0]["model"], listen[0]["language"]) == ("nova-3", "multi")
    assert _room(events)["agent_audio"] > 0.5


async def test_example1_minimal_realtime(server: FakeLiveKitServer, make_worker: Any,
                                         tmp_path: Path) -> None:
    realtime = RealtimeServer(api_key=OPENAI_KEY, silence=0.8)
    greeting, answer = "Hello! How can I help you today?", "It is sunny in Tokyo today."
    realtime.replies.extend([greeting, answer])
    realtime.transcripts.append(QUESTION)
    with serve_in_thread(realtime):
        events = await _run(server, make_worker, tmp_path, "example1_minimal", {
            "OPENAI_BASE_URL": realtime.base_url, "OPENAI_API_KEY": OPENAI_KEY},
            [{"say": WAV}])
    assert [e for e in events if e["kind"] == "error"] == []
    assert _said(events) == [("assistant", greeting, "Agent"), ("user", QUESTION, "Agent"),
                             ("assistant", answer, "Agent")]
    creates = [e for _, e in realtime.events if e["type"] == "response.create"]
    assert creates[0]["response"]["instructions"] == "Greet the user and offer your assistance."
    room = _room(events)
    agent_text = [t["text"] for t in room["transcriptions"] if t["sender"] is None]
    assert agent_text == [greeting, answer]
