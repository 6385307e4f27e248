"""LiveKit's three standard examples (``examples/livekit/``, only their imports changed) run by a
worker on a real LiveKit server, with a participant in the room and the hosted providers served
by the local test servers of ``tests/providers`` (OpenAI-compatible chat, speech and
transcription; Deepgram live STT; ...)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api
from lk_examples import ExampleConfig, entrypoint, prewarm, read_events
from lk_participant import QUESTION_WAV, Participant
from lk_server import LiveKitServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests/providers package

from providers.cartesia_server import CartesiaServer  # noqa: E402
from providers.deepgram_server import DeepgramServer  # noqa: E402
from providers.openai_server import OpenAIServer, Reply, ToolCall  # noqa: E402
from providers.realtime_server import RealtimeServer  # noqa: E402
from providers.threaded import serve_in_thread  # noqa: E402

OPENAI_KEY = "sk-test-0123456789"
DEEPGRAM_KEY = "dg-test-key-0123"
CARTESIA_KEY = "sk_car_test_0123"
QUESTION = "What is the weather in Tokyo?"


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer(api_key=OPENAI_KEY)
    with serve_in_thread(server):
        yield server


@pytest.fixture
def deepgram_server() -> Iterator[DeepgramServer]:
    server = DeepgramServer(api_key=DEEPGRAM_KEY)
    with serve_in_thread(server):
        yield server


@pytest.fixture
def cartesia_server() -> Iterator[CartesiaServer]:
    server = CartesiaServer(api_key=CARTESIA_KEY)
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


async def test_example2_prewarmed_vad_deepgram_tools_and_cartesia_answer_a_spoken_question(
        livekit_server: LiveKitServer, make_worker, openai_server: OpenAIServer,
        deepgram_server: DeepgramServer, cartesia_server: CartesiaServer, out_dir: str,
        room_name: str) -> None:
    """The user speaks (a WAV over WebRTC); Silero VAD (loaded by the example's prewarm) and
    Deepgram live STT hear it; the model calls ``get_weather`` and answers with its result; the
    answer is voiced by Cartesia and heard in the room."""
    # the server "recognizes" loud audio: the question, then nothing for any later burst
    deepgram_server.utterances.extend([QUESTION] + [""] * 10)
    answer = "It is sunny in Tokyo, 25 degrees."
    openai_server.replies.extend([
        Reply(tool_calls=[ToolCall("get_weather", '{"location": "Tokyo"}', "call_w")]),
        Reply(text=answer)])
    cfg = ExampleConfig(name="example2_tools_prewarm", out_dir=out_dir, env={
        "OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": OPENAI_KEY,
        "DEEPGRAM_BASE_URL": deepgram_server.base_url, "DEEPGRAM_API_KEY": DEEPGRAM_KEY,
        "CARTESIA_BASE_URL": cartesia_server.base_url, "CARTESIA_API_KEY": CARTESIA_KEY})
    await make_worker(agent_name="ex2", entrypoint_fnc=functools.partial(entrypoint, cfg),
                      prewarm_fnc=functools.partial(prewarm, cfg))
    user = _user(livekit_server, room_name)
    await user.join(dispatch=api.RoomAgentDispatch(agent_name="ex2"))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 20,
                            "the agent to listen")
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(t.text == answer and t.final
                                        for t in user.transcriptions), 15, "the answer")
        await user.wait_for(lambda: user.audible_seconds(speech_end) > 0.5, 10,
                            "the answer's audio")
    finally:
        await user.leave()
    await user.wait_for(lambda: any(e["kind"] == "close" for e in read_events(out_dir)), 15,
                        "the session to close")

    events = read_events(out_dir)
    assert [e for e in events if e["kind"] in ("failed", "error")] == []
    assert next(e for e in events if e["kind"] == "prewarmed")["userdata"] == ["vad"]
    assert next(e for e in events if e["kind"] == "session")["providers"] == {
        "vad": "SileroVAD", "stt": "STT", "llm": "LLM", "tts": "TTS"}
    listen = deepgram_server.requests("listen")
    assert listen
    assert (listen[0]["model"], listen[0]["language"]) == ("nova-3", "multi")
    heard = [(t.text, t.final) for t in user.transcriptions if t.sender == "user" and t.text]
    assert heard[-1] == (QUESTION, True)
    assert all(QUESTION.startswith(text) for text, _ in heard)  # interim: the words so far
    chats = openai_server.requests("chat")
    assert [c["model"] for c in chats] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert chats[0]["messages"][0] == {"role": "system",
                                       "content": "You are a weather assistant."}
    assert chats[0]["messages"][-1] == {"role": "user", "content": QUESTION}
    assert [t["function"]["name"] for t in chats[0]["tools"]] == ["get_weather"]
    tool = [m for m in chats[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool] == ["Tokyo is sunny, 25°C"]
    voiced = " ".join("".join(pieces).strip() for pieces in cartesia_server.contexts.values())
    assert voiced.strip() == answer
    assert {r.get("voice", {}).get("id") for r in cartesia_server.requests_seen} == {
        "male-conversational"}
    tools = [e for e in events if e["kind"] == "tools"]
    assert [(e["calls"], e["outputs"]) for e in tools] == [
        (["get_weather"], ["Tokyo is sunny, 25°C"])]


async def test_example1_realtime_model_greets_and_answers_a_spoken_question(
        livekit_server: LiveKitServer, make_worker, out_dir: str, room_name: str) -> None:
    """``AgentSession(llm=openai.realtime.RealtimeModel(voice="coral"))`` runs the realtime
    graph against the local Realtime server: the entrypoint's ``generate_reply(instructions=)``
    greets, then the model hears the user's WAV question over WebRTC and answers it."""
    realtime = RealtimeServer(api_key=OPENAI_KEY, silence=0.8)
    greeting = "Hello! How can I help you today?"
    answer = "It is sunny in Tokyo today."
    realtime.replies.extend([greeting, answer])
    realtime.transcripts.append(QUESTION)
    with serve_in_thread(realtime):
        cfg = ExampleConfig(name="example1_minimal", out_dir=out_dir, env={
            "OPENAI_BASE_URL": realtime.base_url, "OPENAI_API_KEY": OPENAI_KEY})
        await make_worker(agent_name="ex1", entrypoint_fnc=functools.partial(entrypoint, cfg),
                          prewarm_fnc=functools.partial(prewarm, cfg))
        user = _user(livekit_server, room_name)
        await user.join(dispatch=api.RoomAgentDispatch(agent_name="ex1"))
        try:
            await user.wait_for(lambda: any(t.text == greeting and t.final
                                            for t in user.transcriptions), 20, "the greeting")
            await user.wait_for(lambda: user.audible_seconds() > 0.5, 10, "the greeting audio")
            await user.wait_for(lambda: _collapse(user.agent_states)[-1:] == ["listening"], 10,
                                "the agent to listen after the greeting")
            _, speech_end = await user.say(QUESTION_WAV)
            await user.wait_for(lambda: any(t.text == answer and t.final
                                            for t in user.transcriptions), 15, "the answer")
            await user.wait_for(lambda: user.audible_seconds(speech_end) > 0.5, 10,
                                "the answer's audio")
        finally:
            await user.leave()
        await user.wait_for(lambda: any(e["kind"] == "close" for e in read_events(out_dir)),
                            15, "the session to close")

    events = read_events(out_dir)
    assert [e for e in events if e["kind"] in ("failed", "error")] == []
    assert next(e for e in events if e["kind"] == "session")["providers"] == {
        "vad": "NoneType", "stt": "NoneType", "llm": "RealtimeModel", "tts": "NoneType"}
    update = next(e for _, e in realtime.events if e["type"] == "session.update")
    assert update["session"]["voice"] == "coral"
    assert "You are a helpful voice AI assistant." in update["session"]["instructions"]
    creates = [e for _, e in realtime.events if e["type"] == "response.create"]
    assert len(creates) == 2
    assert "Greet the user and offer your assistance." in json.dumps(creates[0])
    heard = [t.text for t in user.transcriptions if t.sender == "user" and t.final and t.text]
    assert heard == [QUESTION]
    said = [(e["role"], e["text"]) for e in events if e["kind"] == "item"]
    assert said == [("assistant", greeting), ("user", QUESTION), ("assistant", answer)]


def _collapse(states: list[tuple[float, str]]) -> list[str]:
    out: list[str] = []
    for _, s in states:
        if not out or out[-1] != s:
            out.append(s)
    return out
