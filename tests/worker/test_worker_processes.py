"""Acceptance tests of job processes: drain, crashes, memory limit, stuck initialisation."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from fake_server import FakeLiveKitServer, until
from livekit.protocol import agent
from wk_entrypoints import HangOnce, hang_forever, read_lines


def meta(out: Path, mode: str = "return", **kw: object) -> str:
    return json.dumps({"out": str(out), "mode": mode, **kw})


async def test_drain_refuses_new_jobs_and_waits_for_running_ones(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker()
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=meta(out, "sleep", seconds=0.6)))
    await server.job_status("J1", agent.JS_RUNNING)
    drain = asyncio.create_task(worker.drain())
    await until(lambda: worker.draining)
    assert not (await server.offer(server.make_job("J2"))).available
    full = await server.wait_for("update_worker", lambda m: m.update_worker.status == agent.WS_FULL)
    assert full.update_worker.job_count == 1
    assert not drain.done()
    await server.job_status("J1", agent.JS_SUCCESS)
    await asyncio.wait_for(drain, 5)


async def test_drain_timeout_ends_remaining_jobs(server: FakeLiveKitServer, make_worker,
                                                 tmp_path: Path) -> None:
    worker = await make_worker()
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=meta(out, "wait")))
    await server.job_status("J1", agent.JS_RUNNING)
    await asyncio.wait_for(worker.drain(drain_timeout=0.2), 5)
    assert read_lines(out)[1] == "shutdown J1 worker shutting down"


async def test_kill_9_fails_that_job_only(server: FakeLiveKitServer, make_worker,
                                          tmp_path: Path) -> None:
    worker = await make_worker(num_idle_processes=2)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    await server.dispatch(server.make_job("JA", metadata=meta(a, "wait")))
    await server.dispatch(server.make_job("JB", metadata=meta(b, "wait")))
    await server.job_status("JA", agent.JS_RUNNING)
    await server.job_status("JB", agent.JS_RUNNING)
    pid = worker.jobs["JA"].proc.pid
    os.kill(pid, signal.SIGKILL)
    error = await server.job_status("JA", agent.JS_FAILED)
    assert "exited unexpectedly" in error
    assert "JB" in worker.jobs
    assert worker.jobs["JB"].status == "running"
    # the worker still takes jobs, and JB ends normally
    c = tmp_path / "c.txt"
    await server.dispatch(server.make_job("JC", metadata=meta(c)))
    await server.job_status("JC", agent.JS_SUCCESS)
    await server.terminate("JB")
    await server.job_status("JB", agent.JS_SUCCESS)


async def test_entrypoint_exception_is_reported_failed(server: FakeLiveKitServer, make_worker,
                                                       tmp_path: Path) -> None:
    await make_worker()
    await server.dispatch(server.make_job("J1", metadata=meta(tmp_path / "o", "fail")))
    error = await server.job_status("J1", agent.JS_FAILED)
    assert error == "RuntimeError: entrypoint failed on purpose"


async def test_job_over_memory_limit_is_killed_and_reported(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    await make_worker(job_memory_limit_mb=150, job_memory_warn_mb=100)
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=meta(out, "hog", mb=250)))
    error = await server.job_status("J1", agent.JS_FAILED)
    assert error == "memory limit exceeded"
    assert len(read_lines(out)) == 1  # killed: no graceful shutdown line


async def test_process_stuck_in_prewarm_is_replaced_and_job_runs(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    marker = tmp_path / "hung"
    worker = await make_worker(prewarm_fnc=HangOnce(str(marker)),
                               initialize_process_timeout=0.5)
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=meta(out)))
    await server.job_status("J1", agent.JS_SUCCESS, within=8)
    await until(lambda: worker.pool.init_failures == 1)
    hung_pid = int(marker.read_text())
    await until(lambda: not _alive(hung_pid))
    assert read_lines(out)[0].endswith("warm=True")


async def test_job_fails_rather_than_hangs_when_no_process_gets_ready(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    await make_worker(prewarm_fnc=hang_forever, initialize_process_timeout=0.3,
                      num_idle_processes=0)
    await server.dispatch(server.make_job("J1", metadata=meta(tmp_path / "o")))
    error = await server.job_status("J1", agent.JS_FAILED, within=5)
    assert error == "no job process became ready"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
