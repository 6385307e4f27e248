"""The ``start``, ``dev`` and ``connect`` commands, run as real processes against the fake server.

Each test starts ``python -m flowagents.cli.main <command> wk_entrypoints:<attr>`` with the
credentials in flags or ``LIVEKIT_*`` variables, drives it through the fake server, and checks
what the server saw and how the process exited (SIGTERM drains: running jobs finish first).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import JWT
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer
from livekit.protocol import agent
from typer.testing import CliRunner
from wk_entrypoints import read_lines

from flowagents.cli.main import app

HERE = Path(__file__).parent


async def spawn(*args: str, env: dict[str, str] | None = None,
                ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowagents.cli.main", *args, cwd=HERE,
        env={**os.environ, **(env or {})}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


@pytest.fixture
async def procs() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for p in started:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def exit_code(proc: asyncio.subprocess.Process, within: float = 15.0) -> int:
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        raise
    if proc.returncode:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
    assert API_SECRET.encode() not in err  # no secret in any log line
    assert not JWT.search(err.decode(errors="replace"))  # nor a token
    assert proc.returncode is not None
    return proc.returncode


async def test_start_registers_runs_jobs_and_sigterm_drains_before_exit(
        server: FakeLiveKitServer, procs: list[asyncio.subprocess.Process],
        tmp_path: Path) -> None:
    proc = await spawn("start", "wk_cli:cli_opts", "--url", server.url,
                       "--api-key", API_KEY, "--api-secret", API_SECRET, "--port", "0",
                       "--log-level", "WARNING")
    procs.append(proc)
    await server.wait_connected(within=20)
    register = server.of_kind("register")[0].register
    assert register.type == agent.JT_ROOM
    out = tmp_path / "out.txt"
    job = server.make_job("J1", metadata=json.dumps({"out": str(out), "mode": "sleep",
                                                     "seconds": 1.0}))
    assert (await server.dispatch(job)).available
    await server.job_status("J1", agent.JS_RUNNING, within=10)
    proc.send_signal(signal.SIGTERM)
    await server.wait_for("update_worker", lambda m: m.update_worker.status == agent.WS_FULL)
    assert not (await server.offer(server.make_job("J2"))).available  # draining
    assert proc.returncode is None  # still waiting for J1
    await server.job_status("J1", agent.JS_SUCCESS, within=10)
    assert await exit_code(proc) == 0
    assert read_lines(out)[0].startswith("started J1")


async def test_dev_takes_credentials_from_the_environment_and_starts_processes_on_demand(
        server: FakeLiveKitServer, procs: list[asyncio.subprocess.Process],
        tmp_path: Path) -> None:
    proc = await spawn("dev", "wk_cli:cli_opts", "--port", "0", "--log-level",
                       "WARNING", env={"LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY,
                                       "LIVEKIT_API_SECRET": API_SECRET})
    procs.append(proc)
    await server.wait_connected(within=20)
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=json.dumps({"out": str(out)})))
    await server.job_status("J1", agent.JS_SUCCESS, within=10)
    assert read_lines(out)[0].endswith("warm=True")  # prewarmed, even when started on demand
    proc.send_signal(signal.SIGINT)
    assert await exit_code(proc) == 0


async def test_connect_runs_one_job_in_the_named_room_and_exits(
        procs: list[asyncio.subprocess.Process], tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    proc = await spawn("connect", "wk_entrypoints:probe", "--room", "my-room",
                       "--participant-identity", "agent-x", "--url", "ws://127.0.0.1:1",
                       "--api-key", API_KEY, "--api-secret", API_SECRET,
                       env={"FLOWAGENTS_TEST_OUT": str(out)})
    procs.append(proc)
    assert await exit_code(proc) == 0
    (line,) = read_lines(out)
    kind, room, identity, job_id = line.split()
    assert (kind, room, identity) == ("probe", "my-room", "agent-x")
    assert job_id.startswith("simulated-")


def test_connect_without_a_room_or_agent_is_a_usage_error() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["connect", "wk_entrypoints:probe"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["start", "--url", "ws://x"])
    assert result.exit_code == 2
