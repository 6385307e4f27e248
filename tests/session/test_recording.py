"""Session recordings: what ``record=`` writes, and the timeline drawn from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowagents.cli.main import app
from flowagents.runtime import run_virtual
from flowagents.session.recording import read_recording
from flowagents.session.timeline import LANES, turn_latencies
from flowagents.testing import Script, SimulationResult, simulate
from flowagents.voice import Agent


def _script() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="Hello there", stt_delay=0.2)
    s.llm_reply(input="Hello there", content="Hi! How can I help you today?", ttft=0.1,
                duration=0.3)
    s.tts_audio(input="Hi! How can I help you today?", audio_duration=1.5, ttfb=0.2,
                duration=0.3)
    s.user_speech(start=3.0, end=3.8, transcript="Stop please", stt_delay=0.2)
    s.llm_reply(input="Stop please", content="Okay.", ttft=0.1, duration=0.2)
    s.tts_audio(input="Okay.", audio_duration=0.25, ttfb=0.2, duration=0.3)
    return s


def _run(record: bool | Path = True) -> SimulationResult:
    return run_virtual(simulate(_script(), agent=Agent(instructions="be brief"), record=record))


def test_record_writes_the_conversation_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    _run(path)
    header, events = read_recording(path)
    assert header["type"] == "session"
    assert header["options"]["min_endpointing_delay"] == 0.5
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()][0] == "session"

    def of(kind: str) -> list[dict[str, object]]:
        return [e for e in events if e["type"] == kind]

    # the VAD: delivered after min_speech / min_silence, dated back to the speech itself
    assert [(e["t"], e["event"], e["at"]) for e in of("vad")] == [
        (0.55, "start_of_speech", 0.5), (2.05, "end_of_speech", 1.5),
        (3.05, "start_of_speech", 3.0), (4.35, "end_of_speech", 3.8)]
    assert [(e["t"], e["final"], e["text"]) for e in of("transcript")] == [
        (1.6, False, "Hello"), (1.7, True, "Hello there"),
        (3.9, False, "Stop"), (4.0, True, "Stop please")]
    # each LLM request: its input, what it answered and when (the preemptive reply on the final)
    assert [(e["start"], e["first"], e["t"], e["input"], e["content"], e["cancelled"])
            for e in of("llm")] == [
        (1.7, 1.8, 2.0, "Hello there", "Hi! How can I help you today?", False),
        (4.0, 4.1, 4.2, "Stop please", "Okay.", False)]
    assert [(e["start"], e["first"], e["text"], e["audio"]) for e in of("tts")] == [
        (2.05, 2.25, "Hi! How can I help you today?", 1.5), (4.35, 4.55, "Okay.", 0.25)]
    assert [(e["t"], e["delay"]) for e in of("endpointing")] == [(2.05, 0.55), (4.35, 0.55)]
    assert [(e["t"], e["text"]) for e in of("user_turn")] == [
        (2.05, "Hello there"), (4.35, "Stop please")]
    # the barge-in: playout paused at 3.5 (0.5 s of speech), the first reply cut at 1.25 s
    done = [e for e in of("playout") if e["kind"] == "step_done"]
    assert [(e["started_at"], e["ended_at"], e["position"], e["interrupted"], e["text"])
            for e in done] == [(2.25, 4.0, 1.25, True, "Hi! How can I help you"),
                               (4.55, 4.8, 0.25, False, "Okay.")]
    assert [(e["t"], e["new"]) for e in of("agent_state")] == [
        (0.0, "listening"), (2.05, "thinking"), (2.25, "speaking"), (3.5, "listening"),
        (4.35, "thinking"), (4.55, "speaking"), (4.8, "listening")]
    assert [(e["t"], e["new"]) for e in of("user_state")] == [
        (0.5, "speaking"), (1.5, "listening"), (3.0, "speaking"), (3.8, "listening")]
    assert of("close")[0]["reason"] == "user_initiated"
    assert turn_latencies(events) == [(1.7, pytest.approx(0.55)), (4.0, pytest.approx(0.55))]


def test_simulate_keeps_the_recording_in_memory() -> None:
    result = _run()
    events = result.recorded_events()
    assert [e["new"] for e in events if e["type"] == "agent_state"] == [
        "listening", "thinking", "speaking", "listening", "thinking", "speaking", "listening"]
    with pytest.raises(ValueError, match="record=False"):
        _run(False).recorded_events()


def test_timeline_command_draws_every_lane(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    _run(path)
    out = tmp_path / "timeline.svg"
    res = CliRunner().invoke(app, ["timeline", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert svg.startswith("<?xml")
    for lane in LANES:
        assert f">{lane}<" in svg.replace("&#x27;", "'"), lane
    assert "turn 1: 550 ms" in svg
    assert "turn 2: 550 ms" in svg
    assert "ttft 100 ms" in svg


def test_timeline_command_rejects_what_is_not_a_recording(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"t": 0, "type": "vad"}\n')
    res = CliRunner().invoke(app, ["timeline", str(bad), "-o", str(tmp_path / "t.svg")])
    assert res.exit_code == 1
    assert "not a flowagents session recording" in res.output


def test_plot_draws_the_simulation() -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = _run().plot(title="barge-in")
    ax = fig.axes[0]
    ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])  # top first
    assert [t.get_text() for t in ticks] == list(LANES)
    texts = [t.get_text() for t in ax.texts]
    assert "turn 1: 550 ms" in texts


def test_sessions_record_where_the_environment_says(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from flowagents.session.recording import RECORD_ENV

    monkeypatch.setenv(RECORD_ENV, str(tmp_path / "recordings"))
    _run(False)  # no recorder of simulate's own: the session picks the default
    _run(False)
    files = sorted((tmp_path / "recordings").glob("session-*.jsonl"))
    assert len(files) == 2
    for f in files:
        _, events = read_recording(f)
        assert [e["t"] for e in events if e["type"] == "user_turn"] == [2.05, 4.35]


def test_console_and_worker_take_record() -> None:
    for command in ("console", "dev", "start", "connect"):
        res = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
        assert res.exit_code == 0
        assert "--record" in res.output, command


def test_recording_leaves_the_sessions_providers_as_given(tmp_path: Path) -> None:
    script = _script().fault("tts", call=1)  # the first synthesis fails, and is retried
    result = run_virtual(simulate(script, agent=Agent(instructions="be brief"),
                                  record=tmp_path / "session.jsonl"))
    # what the user passed is what the session holds: no recording proxy in between
    assert result.session.llm is result.llm
    assert result.session.tts is result.tts
    _, events = read_recording(tmp_path / "session.jsonl")
    # every attempt is a request of its own: the failed one, then its retry at once
    assert [(e["start"], e["first"], e["t"], e["text"], e["cancelled"], e["error"])
            for e in events if e["type"] == "tts"][:2] == [
        (2.05, None, 2.25, "Hi! How can I help you today?", True, "APIConnectionError"),
        (2.25, 2.45, 2.55, "Hi! How can I help you today?", False, None)]
    assert [e["error"] for e in events if e["type"] == "llm"] == [None, None]
