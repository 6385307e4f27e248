"""``python agent.py <command>``: LiveKit's subcommands on an agent file that ends with
``agents.cli.run_app(...)``; ``console --text`` runs the LiveKit handoff example locally against
the local OpenAI server (its tool reaches the job context and the session, stops it and starts
it on the sales agent)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests/providers package

from providers.openai_server import OpenAIServer, Reply, ToolCall  # noqa: E402
from providers.threaded import serve_in_thread  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE3 = ROOT / "examples" / "livekit" / "example3_handoff.py"
KEY = "sk-test-0123456789"


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer(api_key=KEY)
    with serve_in_thread(server):
        yield server


def _run(*args: str, stdin: str = "", env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE3), *args], input=stdin, text=True,
                          capture_output=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_the_agent_file_has_livekits_commands() -> None:
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    for command in ("start", "dev", "connect", "console", "download-files"):
        assert command in out.stdout


def test_console_text_runs_the_handoff_example_on_the_local_openai_server(
        openai_server: OpenAIServer) -> None:
    openai_server.replies.extend([
        Reply(tool_calls=[ToolCall("transfer_to_sales", "{}", "call_1")]),
        Reply(text="Let me connect you with sales."),
        Reply(text="The pro plan costs ten dollars a month.")])
    out = _run("console", "--text",
               stdin="I want to buy a plan.\nWhat does the pro plan cost?\n",
               env={"OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": KEY})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "user: I want to buy a plan.",
        "  [tool] transfer_to_sales({}) -> Transferring to sales...",
        "agent: Let me connect you with sales.",
        "user: What does the pro plan cost?",
        "agent: The pro plan costs ten dollars a month.",
    ]
    assert KEY not in out.stdout + out.stderr
    systems = [body["messages"][0]["content"] for body in openai_server.requests("chat")]
    assert systems == ["You are a receptionist. Ask for user needs."] * 2 + [
        "You are a sales agent. Provide product info."]
    spoken = [body["input"] for body in openai_server.requests("speech")]
    assert spoken == ["Let me connect you with sales.", "The pro plan costs ten dollars a month."]


def test_console_without_a_key_for_the_hosted_llm_says_which(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    out = subprocess.run([sys.executable, str(EXAMPLE3), "console", "--text"], input="hi\n",
                         text=True, capture_output=True, timeout=120, cwd=tmp_path,
                         env={**env, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: the entrypoint failed: ValueError: openai: no API key: pass api_key= or set "
        "OPENAI_API_KEY (--verbose for the traceback)"]


def test_console_plays_a_wav_to_the_tools_example_and_records_the_answer(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    """``python example2_tools_prewarm.py console --input question.wav --output reply.wav``:
    the prewarmed Silero VAD and the Deepgram STT (local server) hear the WAV, the model calls
    ``get_weather``, Cartesia (local server) voices the answer into the output WAV."""
    import soundfile as sf
    from providers.cartesia_server import CartesiaServer
    from providers.deepgram_server import DeepgramServer

    question = "What is the weather in Tokyo?"
    answer = "It is sunny in Tokyo, 25 degrees."
    deepgram, cartesia = DeepgramServer(api_key="dg-key"), CartesiaServer(api_key="ca-key")
    deepgram.utterances.extend([question] + [""] * 10)
    openai_server.replies.extend([
        Reply(tool_calls=[ToolCall("get_weather", '{"location": "Tokyo"}', "call_w")]),
        Reply(text=answer)])
    reply = tmp_path / "reply.wav"
    with serve_in_thread(deepgram), serve_in_thread(cartesia):
        out = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "livekit" / "example2_tools_prewarm.py"),
             "console", "--input", str(ROOT / "examples" / "audio" / "question.wav"),
             "--output", str(reply)],
            text=True, capture_output=True, timeout=120, cwd=ROOT, env={
                **os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                "OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": KEY,
                "DEEPGRAM_BASE_URL": deepgram.base_url, "DEEPGRAM_API_KEY": "dg-key",
                "CARTESIA_BASE_URL": cartesia.base_url, "CARTESIA_API_KEY": "ca-key"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"user: {question}" in lines
    assert '  [tool] get_weather({"location": "Tokyo"}) -> Tokyo is sunny, 25°C' in lines
    assert f"agent: {answer}" in lines
    assert lines.index(f"user: {question}") < lines.index(f"agent: {answer}")
    assert any(line.startswith("turn 1 latency: ") for line in lines)
    pcm, rate = sf.read(reply, dtype="int16")
    # Cartesia's tone: 0.1 s per word of the answer's two pieces (7 words)
    assert rate == 24000
    assert abs(len(pcm) / rate - 0.7) < 0.05
