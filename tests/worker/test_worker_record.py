"""``--record`` on the worker, end to end: a job run by ``flowagents dev`` or ``start`` records its
session, and ``flowagents timeline`` draws the recording with every lane.

The worker runs as a real process (``python -m flowagents.cli.main dev wk_sessions:converse
--record DIR``, and ``start`` with a pre-warmed pool) against the fake LiveKit server; its job
processes inherit the recording folder and the job holds a scripted conversation with a barge-in
in real time (``wk_sessions``). The recording is then drawn by the ``timeline`` command, also as
a process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer
from livekit.protocol import agent

from flowagents.session.recording import read_recording
from flowagents.session.timeline import LANES, turn_latencies

HERE = Path(__file__).parent


async def _cli(*args: str, within: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowagents.cli.main", *args, cwd=HERE, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize(("command", "agent_target"), [
    ("dev", "wk_sessions:converse"),  # a process started for the job
    ("start", "wk_cli:sessions_opts"),  # a pre-warmed process of the pool
])
async def test_a_worker_job_records_its_session_and_the_timeline_draws_every_lane(
        server: FakeLiveKitServer, tmp_path: Path, command: str, agent_target: str) -> None:
    records = tmp_path / "recordings"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowagents.cli.main", command, agent_target,
        "--record", str(records), "--url", server.url, "--api-key", API_KEY,
        "--api-secret", API_SECRET, "--port", "0", "--log-level", "WARNING",
        cwd=HERE, env=dict(os.environ), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        await server.wait_connected(within=30)
        meta = json.dumps({"turns": 4, "seconds": 9.0})
        await server.dispatch(server.make_job("J1", metadata=meta))
        await server.job_status("J1", agent.JS_RUNNING, within=20)
        await server.job_status("J1", agent.JS_SUCCESS, within=30)  # it ends by itself
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, err.decode(errors="replace")[-3000:]
    assert API_SECRET.encode() not in err
    [path] = sorted(records.glob("*.jsonl"))  # one session, one file
    header, events = read_recording(path)
    assert header["options"]["min_endpointing_delay"] == 0.1  # the job's session options
    kinds = {e["type"] for e in events}
    assert {"vad", "transcript", "endpointing", "user_turn", "llm", "tts", "playout",
            "agent_state", "user_state", "close"} <= kinds
    assert [e["text"] for e in events if e["type"] == "user_turn"] == [
        "question 0", "question 1", "question 2", "question 3"]
    # the third question cut the second answer: playout paused (an interruption lane mark)
    assert any(e["type"] == "playout" and e["kind"] in ("paused", "cleared") for e in events)
    assert len(turn_latencies(events)) == 4
    svg = tmp_path / "timeline.svg"
    code, out = await _cli("timeline", str(path), "-o", str(svg))
    assert code == 0, out
    text = svg.read_text().replace("&#x27;", "'")
    for lane in LANES:
        assert f">{lane}<" in text, lane
    assert "turn 4:" in text


async def test_connect_runs_one_job_and_records_it_to_the_file_given(tmp_path: Path) -> None:
    record = tmp_path / "one" / "session.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowagents.cli.main", "connect", "wk_sessions:converse",
        "--room", "my-room", "--record", str(record), "--url", "ws://127.0.0.1:1",
        "--api-key", API_KEY, "--api-secret", API_SECRET, "--log-level", "WARNING", cwd=HERE,
        env={**os.environ, "FLOWAGENTS_TEST_CONVERSE": json.dumps({"turns": 2, "seconds": 5.0})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    _header, events = read_recording(record)
    assert [e["text"] for e in events if e["type"] == "user_turn"] == [
        "question 0", "question 1"]
    assert events[-1]["type"] == "close"


def test_a_worker_records_to_a_folder_not_to_one_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flowagents.cli.main import app

    res = CliRunner().invoke(app, ["dev", "wk_sessions:converse", "--record",
                                   str(tmp_path / "session.jsonl")], terminal_width=200)
    assert res.exit_code == 2
    assert "give a folder" in res.output
    assert not (tmp_path / "session.jsonl").exists()
