"""LiveKit's three standard examples (``examples/livekit/``, only their imports changed) run by a
worker on a real LiveKit server, with a participant in the room and the hosted providers served
by the local test servers of ``tests/providers`` (OpenAI-compatible chat, speech and
transcription; Deepgram live STT; ...)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api
from lk_examples import ExampleConfig, entrypoint, prewarm, read_events
from lk_participant import Participant
from lk_server import LiveKitServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests/providers package

from providers.openai_server import OpenAIServer, Reply, ToolCall  # noqa: E402
from providers.threaded import serve_in_thread  # noqa: E402

OPENAI_KEY = "sk-test-0123456789"


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer(api_key=OPENAI_KEY)
    with serve_in_thread(server):
        yield server


def _user(server: LiveKitServer, room: str) -> Participant:
    return Participant(server.url, server.api_key, server.api_secret, room)


def _system(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    return str(messages[0]["content"])


async def test_example3_handoff_stops_and_starts_the_session_on_the_sales_agent(
        livekit_server: LiveKitServer, make_worker, openai_server: OpenAIServer, out_dir: str,
        room_name: str) -> None:
    """The user types to the receptionist (the example has no STT: text only, as in LiveKit);
    its model calls ``transfer_to_sales``, whose tool stops the session and starts it again on
    the sales agent; the next message is answered by the sales agent, with the history kept."""
    openai_server.replies.extend([
        Reply(tool_calls=[ToolCall("transfer_to_sales", "{}", "call_1")]),
        Reply(text="Let me connect you with sales."),
        Reply(text="The pro plan costs ten dollars a month."),
    ])
    cfg = ExampleConfig(name="example3_handoff", out_dir=out_dir, env={
        "OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": OPENAI_KEY})
    await make_worker(agent_name="ex3", entrypoint_fnc=functools.partial(entrypoint, cfg),
                      prewarm_fnc=functools.partial(prewarm, cfg))
    user = _user(livekit_server, room_name)
    await user.join(dispatch=api.RoomAgentDispatch(agent_name="ex3"))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 20,
                            "the agent to listen")
        await user.send_chat("I want to buy a plan.")
        await user.wait_for(lambda: any(t.text == "Let me connect you with sales." and t.final
                                        for t in user.transcriptions), 15,
                            "the receptionist's last words")
        await user.send_chat("What does the pro plan cost?")
        await user.wait_for(lambda: any(t.text == "The pro plan costs ten dollars a month."
                                        and t.final for t in user.transcriptions), 15,
                            "the sales agent's answer")
        await user.wait_for(lambda: user.audible_seconds() > 1.0, 10, "the agent's voice")
    finally:
        await user.leave()
    await user.wait_for(lambda: any(e["kind"] == "close" for e in read_events(out_dir)), 15,
                        "the session to close")

    events = read_events(out_dir)
    assert [e for e in events if e["kind"] in ("failed", "error")] == []
    assert next(e for e in events if e["kind"] == "session")["providers"] == {
        "vad": "NoneType", "stt": "NoneType", "llm": "LLM", "tts": "TTS"}
    chats = openai_server.requests("chat")
    assert len(chats) == 3
    assert [c["model"] for c in chats] == ["gpt-4o"] * 3
    assert _system(chats[0]) == "You are a receptionist. Ask for user needs."
    assert [t["function"]["name"] for t in chats[0]["tools"]] == ["transfer_to_sales"]
    tool_outputs = [m for m in chats[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_outputs] == ["Transferring to sales..."]
    assert _system(chats[1]) == "You are a receptionist. Ask for user needs."
    assert _system(chats[2]) == "You are a sales agent. Provide product info."
    assert chats[2]["messages"][-1] == {"role": "user", "content": "What does the pro plan cost?"}
    # the TTS ("openai-tts") voiced both replies
    spoken = [s["input"] for s in openai_server.requests("speech")]
    assert spoken == ["Let me connect you with sales.", "The pro plan costs ten dollars a month."]
    close = next(e for e in events if e["kind"] == "close")
    assert close["agent"] == "SalesAgent"
    history = [(kind, who) for kind, who, _ in close["history"]]
    assert history == [
        ("message", "user"), ("agent_handoff", ""), ("function_call", "transfer_to_sales"),
        ("function_call_output", "transfer_to_sales"), ("message", "assistant"),
        ("message", "user"), ("message", "assistant")]
    said = [(e["role"], e["text"], e["agent"]) for e in events if e["kind"] == "item"]
    assert said == [
        ("user", "I want to buy a plan.", "ReceptionAgent"),
        ("assistant", "Let me connect you with sales.", "SalesAgent"),
        ("user", "What does the pro plan cost?", "SalesAgent"),
        ("assistant", "The pro plan costs ten dollars a month.", "SalesAgent")]
