"""``flowagents console`` on the examples: every example follows the loading convention, the text
mode talks to an agent from stdin, and a machine without an audio device gets a clear error.

The models here are the testing kit's fakes (the offline models run in ``tests/e2e``), so the
agent answers what the script says, in real time but within a second or two.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowagents.cli.console_cmd import ConsoleError, load_agent_app, run_text
from flowagents.cli.main import app
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script

from .conftest import EXAMPLES

HELLO = "Hello! How can I help?"
ANSWER = "I can answer questions."


class FakeProviders:
    """Stands in for ``nodes.local.LocalProviders`` (what ``create_session`` receives);
    ``tts=False``: no TTS, as ``--text`` loads none."""

    def __init__(self, script: Script, *, tts: bool = True) -> None:
        self.script = script
        self.tts = FakeTTS(script) if tts else None

    def session_kwargs(self) -> dict[str, Any]:
        s = self.script
        return {"vad": FakeVAD(s), "stt": FakeSTT(s), "llm": FakeLLM(s), "tts": self.tts}


@pytest.mark.parametrize(("name", "agent"), [
    ("minimal", "Assistant"), ("weather", "WeatherAgent"), ("handoff", "Receptionist")])
def test_each_example_gives_the_console_its_agent_and_session(name: str, agent: str) -> None:
    loaded = load_agent_app(str(EXAMPLES / f"{name}.py"))
    assert type(loaded.create_agent()).__name__ == agent
    session = loaded.create_session(FakeProviders(Script()))  # type: ignore[arg-type]
    assert isinstance(session, AgentSession)
    if name == "weather":
        assert session.options.preemptive_generation
        assert session.options.min_interruption_duration == 0.6
    if name == "handoff":
        assert type(session.userdata).__name__ == "CallInfo"


def test_a_file_without_a_single_agent_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "nothing.py"
    empty.write_text("X = 1\n")
    with pytest.raises(ConsoleError, match="create_agent"):
        load_agent_app(str(empty))


def test_text_mode_reads_turns_from_stdin_and_prints_the_replies_and_latency() -> None:
    """No TTS (a text-only session): each reply is shown whole when its text is ready, and
    each typed turn's latency follows it, in virtual time to the millisecond."""
    minimal = load_agent_app(str(EXAMPLES / "minimal.py"))
    greeting = minimal.module.GREETING
    script = (Script()
              .llm_reply(input=greeting, content=HELLO, ttft=0.05)
              .llm_reply(input="What can you do?", content=ANSWER, ttft=0.25, duration=0.4))
    out = io.StringIO()
    stdin = io.StringIO("What can you do?\n\n/quit\nnever read\n")
    providers = FakeProviders(script, tts=False)
    watch = run_virtual(run_text(minimal, providers, limit=10.0,  # type: ignore[arg-type]
                                 out=out, stdin=stdin))
    assert out.getvalue().splitlines() == [
        f"agent: {HELLO}", "user: What can you do?", f"agent: {ANSWER}",
        "turn 1 latency: LLM first token 0.25 s | first text 0.40 s | whole reply 0.40 s"]
    errors = [e for e in watch.session.history.items if e.type != "message"]
    assert errors == []
    assert [(m.role, m.text_content) for m in watch.session.history.items] == [
        ("assistant", HELLO), ("user", "What can you do?"), ("assistant", ANSWER)]


def test_no_audio_device_is_a_clear_error_before_any_model_loads() -> None:
    from flowagents.cli.console_io import NoAudioDeviceError, open_device

    try:
        mic, speaker = open_device()
    except NoAudioDeviceError:
        pass
    else:
        asyncio.run(speaker.aclose())
        pytest.skip("this machine has an audio device")
    result = CliRunner().invoke(app, ["console", str(EXAMPLES / "minimal.py")])
    assert result.exit_code == 1
    assert "no audio device" in result.output
    assert "--text" in result.output
    assert "loading offline models" not in result.output


def test_usage_errors() -> None:
    runner = CliRunner()
    minimal = str(EXAMPLES / "minimal.py")
    result = runner.invoke(app, ["console", minimal, "--output", "reply.wav"])
    assert result.exit_code == 1
    assert "--output needs --input" in result.output
    result = runner.invoke(app, ["console", minimal, "--input", "no-such.wav"])
    assert result.exit_code == 1
    assert "does not exist" in result.output
