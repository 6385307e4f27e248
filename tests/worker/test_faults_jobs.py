"""Fault tests of jobs and job processes, as an operator meets them (issue 12).

Drain waits for a job assigned after it began; every job ends with a final status; a prewarm that
raises is retried with back-off, logged with its error, and turns health 503 until it heals; a
dead inference process turns health 503; the memory limit holds within 10 %; a start cancelled
at pool close keeps the child's socket until ``Process.start()`` returns; log lines carry their
context. No log line of any of them carries a secret (see conftest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import LogLines
from fake_server import FakeLiveKitServer, until
from livekit.protocol import agent
from wk_entrypoints import FailWhile, Sha256Runner, SlowWhile, read_lines

from flowagents.ipc import inference
from flowagents.ipc.job_proc import JobProcessHandle, ProcOptions
from flowagents.worker import Worker, WorkerOptions
from flowagents.worker.logs import TextFormatter, json_formatter


def meta(out: Path, mode: str = "return", **kw: object) -> str:
    return json.dumps({"out": str(out), "mode": mode, **kw})


async def health(worker: Worker) -> int:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{worker.health_port}/") as resp:
        return resp.status


# -- drain and shutdown -----------------------------------------------------------------------


async def test_drain_waits_for_a_job_assigned_after_it_began(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker()
    out = tmp_path / "out.txt"
    job = server.make_job("J1", metadata=meta(out, "sleep", seconds=0.8))
    assert (await server.offer(job)).available
    drain = asyncio.create_task(worker.drain(drain_timeout=10))
    await until(lambda: worker.draining)
    began = time.monotonic()
    await server.assign(job)  # the assignment arrives after the drain began
    await server.job_status("J1", agent.JS_SUCCESS, within=5)
    await asyncio.wait_for(drain, 5)
    assert time.monotonic() - began >= 0.8  # it ran its full 0.8 s
    assert read_lines(out)[-1] == "shutdown J1 "  # ended by itself, not "worker shutting down"
    assert server.job_statuses("J1") == [agent.JS_RUNNING, agent.JS_SUCCESS]


async def test_a_job_accepted_during_request_fnc_is_refused_once_draining(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    gate, deciding = asyncio.Event(), asyncio.Event()

    async def slow_accept(req: Any) -> None:
        deciding.set()
        await gate.wait()
        await req.accept()

    async def choose(req: Any) -> None:
        if req.id == "J0":
            await req.accept()
        else:
            await slow_accept(req)

    worker = await make_worker(request_fnc=choose)
    await server.dispatch(server.make_job("J0", metadata=meta(tmp_path / "o", "sleep",
                                                              seconds=0.5)))
    await server.job_status("J0", agent.JS_RUNNING)
    await server.send(agent.ServerMessage(availability=agent.AvailabilityRequest(
        job=server.make_job("J1"))))
    await asyncio.wait_for(deciding.wait(), 5)
    drain = asyncio.create_task(worker.drain(drain_timeout=5))
    await until(lambda: worker.draining)
    gate.set()
    answer = await server.wait_for("availability", lambda m: m.availability.job_id == "J1")
    assert not answer.availability.available
    await asyncio.wait_for(drain, 5)
    assert server.job_statuses("J0") == [agent.JS_RUNNING, agent.JS_SUCCESS]


async def test_every_job_ends_with_a_final_status_at_a_drain_timeout(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    flag = tmp_path / "slow"
    worker = await make_worker(num_idle_processes=2, prewarm_fnc=SlowWhile(str(flag)),
                               shutdown_process_timeout=0.5, initialize_process_timeout=30)
    await until(lambda: worker.pool.idle_count == 2, within=10)
    flag.touch()  # from now on no process gets ready
    await server.dispatch(server.make_job("JW", metadata=meta(tmp_path / "w", "wait")))
    await server.dispatch(server.make_job("JB", metadata=meta(tmp_path / "b", "block")))
    await server.job_status("JW", agent.JS_RUNNING)
    await server.job_status("JB", agent.JS_RUNNING)
    await server.dispatch(server.make_job("JL", metadata=meta(tmp_path / "l")))
    await until(lambda: "JL" in worker.jobs)  # launching: waiting for a process
    await asyncio.wait_for(worker.drain(drain_timeout=0.3), 10)
    # each job: one final status, received before the connection closed
    assert server.job_statuses("JW") == [agent.JS_RUNNING, agent.JS_SUCCESS]
    assert server.job_statuses("JB") == [agent.JS_RUNNING, agent.JS_FAILED]
    assert server.job_statuses("JL") == [agent.JS_FAILED]
    errors = {m.update_job.job_id: m.update_job.error for m in server.of_kind("update_job")
              if m.update_job.status == agent.JS_FAILED}
    assert errors == {"JB": "did not shut down in time", "JL": "worker shutting down"}
    assert read_lines(tmp_path / "w")[-1] == "shutdown JW worker shutting down"


async def test_close_sends_the_final_status_of_a_running_job(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker()
    await server.dispatch(server.make_job("J1", metadata=meta(tmp_path / "o", "wait")))
    await server.job_status("J1", agent.JS_RUNNING)
    await asyncio.wait_for(worker.aclose(), 5)
    assert server.job_statuses("J1") == [agent.JS_RUNNING, agent.JS_SUCCESS]
    final = server.of_kind("update_worker")[-1].update_worker
    assert final.job_count == 0


# -- process pool -----------------------------------------------------------------------------


async def test_failing_prewarm_backs_off_logs_its_error_and_turns_health_503(
        server: FakeLiveKitServer, make_worker, tmp_path: Path, log_lines: LogLines) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    worker = await make_worker(prewarm_fnc=FailWhile(str(flag)), serve_http=True,
                               num_idle_processes=3, process_restart_base_delay=0.1,
                               process_restart_max_delay=0.4)
    retries: list[logging.LogRecord] = []

    def retried() -> int:
        retries[:] = [r for r in log_lines.records
                      if r.getMessage() == "job process failed to initialise, retrying"]
        return len(retries)

    await until(lambda: retried() >= 4, within=10)
    # three processes were to be warm; once two failed in a row, a single one keeps trying,
    # waiting 0.1, 0.2, 0.4, 0.4 s between its attempts: a few restarts, not dozens
    assert worker.pool.warming_count == 1
    assert worker.pool.init_failures <= len(retries) + 3
    waits = [r.retry_in for r in retries]  # type: ignore[attr-defined]
    assert waits[:4] == pytest.approx([0.1, 0.2, 0.4, 0.4], abs=0.051)
    for before, after in zip(retries, retries[1:], strict=False):
        assert after.created - before.created >= before.retry_in - 0.01  # type: ignore[attr-defined]
    assert retries[0].error == f"prewarm_fnc failed: ValueError: no model at {flag}"  # type: ignore[attr-defined]
    relayed = [r for r in log_lines.records if r.getMessage() == "prewarm_fnc failed"]
    assert relayed
    assert f"ValueError: no model at {flag}" in (relayed[0].exc_text or "")
    assert relayed[0].process != os.getpid()  # the job process's own record, relayed
    assert any(r.getMessage() == "loading the model" and r.name == "wk.prewarm"
               for r in log_lines.records)
    # no process can start: unhealthy, and jobs are refused
    assert await health(worker) == 503
    assert not (await server.offer(server.make_job("J1"))).available
    assert worker.state()["pool"]["can_start"] is False
    flag.unlink()  # fixed: the next attempt succeeds and the worker takes jobs again
    await until(lambda: worker.healthy, within=5)
    assert await health(worker) == 200
    out = tmp_path / "out.txt"
    assert (await server.dispatch(server.make_job("J2", metadata=meta(out)))).available
    await server.job_status("J2", agent.JS_SUCCESS)


async def test_a_process_that_cannot_start_is_retried_with_back_off(
        server: FakeLiveKitServer, make_worker, log_lines: LogLines) -> None:
    def local_prewarm(_proc: object) -> None:  # job processes cannot import it by name
        return None

    worker = await make_worker(prewarm_fnc=local_prewarm, serve_http=True,
                               process_restart_base_delay=0.1, process_restart_max_delay=0.4)
    await until(lambda: worker.pool.init_failures >= 3, within=10)
    retries = [r for r in log_lines.records
               if r.getMessage() == "job process failed to initialise, retrying"]
    assert retries[0].error.startswith("process did not start: ")  # type: ignore[attr-defined]
    assert "local_prewarm" in retries[0].error  # type: ignore[attr-defined]
    for before, after in zip(retries, retries[1:], strict=False):
        assert after.created - before.created >= before.retry_in - 0.01  # type: ignore[attr-defined]
    assert await health(worker) == 503
    assert worker.pool.warming_count == 1  # one task retrying, not a loop of new ones
    assert not any("never retrieved" in r.getMessage() for r in log_lines.records)


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "_RUNNERS", {})
    inference.register_runner(Sha256Runner)


async def test_dead_inference_process_turns_health_503(
        runners: None, server: FakeLiveKitServer, make_worker) -> None:
    worker = await make_worker(serve_http=True)
    assert worker.inference is not None
    await worker.inference.wait_ready()
    assert await health(worker) == 200
    pid = worker.inference.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await until(lambda: worker.inference is not None and worker.inference.dead)
    assert await health(worker) == 503
    assert not (await server.offer(server.make_job("J1"))).available
    await until(lambda: worker.inference is not None and worker.inference.ready, within=10)
    assert await health(worker) == 200


async def test_memory_limit_holds_within_10_percent(
        server: FakeLiveKitServer, make_worker, tmp_path: Path, log_lines: LogLines) -> None:
    """A job growing 5 MB every 40 ms (125 MB/s) against a 200 MB limit, default polling.

    Polled every 0.1 s, it is at most 12.5 MB over when it is seen (6 %); at the old 5 s it
    reached several times the limit.
    """
    default = WorkerOptions.model_fields["memory_check_interval"].default
    assert default == 0.1
    await make_worker(job_memory_limit_mb=200, job_memory_warn_mb=150,
                      memory_check_interval=default)
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=meta(out, "grow", step_mb=5,
                                                              interval=0.04)))
    error = await server.job_status("J1", agent.JS_FAILED, within=10)
    assert error == "memory limit exceeded"
    peak = max(float(line.split()[1]) for line in read_lines(out) if line.startswith("rss"))
    assert 180 <= peak <= 220  # it got near, and no further than 10 % over
    kill = next(r for r in log_lines.records
                if r.getMessage() == "job process over its memory limit, killing it")
    assert 200 <= kill.memory_mb <= 220  # type: ignore[attr-defined]  (rounded to 0.1 MB)
    assert kill.job_id == "J1"  # type: ignore[attr-defined]
    warn = next(r for r in log_lines.records if r.getMessage() == "job process memory is high")
    assert warn.levelno == logging.WARNING
    assert 150 <= warn.memory_mb <= 200  # type: ignore[attr-defined]  (rounded to 0.1 MB)
    assert warn.created <= kill.created


class _SlowStartProcess:
    """A stand-in for ``multiprocessing.Process`` whose start() takes 0.3 s in its thread."""

    def __init__(self, *, target: Any, args: tuple[Any, ...], daemon: bool, name: str) -> None:
        self.sock: socket.socket = args[0].sock
        self.sock_ok_after_start: bool | None = None
        self.started = threading.Event()
        self.pid = None
        self.exitcode = 0
        self.sentinel = -1

    def start(self) -> None:
        self.started.set()
        time.sleep(0.3)  # forkserver passing the child's descriptors on
        fd = self.sock.fileno()
        self.sock_ok_after_start = fd >= 0 and stat.S_ISSOCK(os.fstat(fd).st_mode)

    def is_alive(self) -> bool:
        return False

    def kill(self) -> None:
        return None

    def join(self, _timeout: float | None = None) -> None:
        return None


class _SlowStartContext:
    def __init__(self) -> None:
        self.procs: list[_SlowStartProcess] = []

    def Process(self, **kw: Any) -> _SlowStartProcess:  # noqa: N802 - multiprocessing's name
        proc = _SlowStartProcess(**kw)
        self.procs.append(proc)
        return proc


async def _entry(_ctx: object) -> None: ...


async def test_a_start_cancelled_at_close_keeps_the_child_socket_until_start_returns() -> None:
    ctx = _SlowStartContext()
    handle = JobProcessHandle(mp_ctx=ctx, entrypoint_fnc=_entry, prewarm_fnc=None,  # type: ignore[arg-type]
                              opts=ProcOptions())
    start = asyncio.create_task(handle.start())
    await until(lambda: bool(ctx.procs) and ctx.procs[0].started.is_set())
    start.cancel()  # what the pool's close does to a warming process
    with pytest.raises(asyncio.CancelledError):
        await start
    proc = ctx.procs[0]
    assert proc.sock_ok_after_start is True  # still our socket while start() ran
    assert proc.sock.fileno() == -1  # and closed once it returned


# -- logs -------------------------------------------------------------------------------------


async def test_every_line_carries_its_context(
        server: FakeLiveKitServer, make_worker, tmp_path: Path, log_lines: LogLines) -> None:
    worker = await make_worker()
    await server.dispatch(server.make_job("J1", room="lobby",
                                          metadata=meta(tmp_path / "o", "fail")))
    await server.job_status("J1", agent.JS_FAILED)
    await until(lambda: any(r.getMessage() == "job failed" for r in log_lines.records))
    text, js = TextFormatter(), json_formatter()
    failed = next(r for r in log_lines.records if r.getMessage() == "job failed")
    line = text.format(failed)
    assert line.endswith(' WARNING flowagents.worker job failed job_id=J1 room_name=lobby '
                         f'worker_id={worker.worker_id} '
                         'error="RuntimeError: entrypoint failed on purpose"')
    assert json.loads(js.format(failed))["error"] == "RuntimeError: entrypoint failed on purpose"
    # the job process's own record: its job, room, pid and traceback
    crashed = next(r for r in log_lines.records if r.getMessage() == "job entrypoint failed")
    head, *trace = text.format(crashed).splitlines()
    assert "job_id=J1" in head
    assert "room_name=lobby" in head
    assert f"worker_id={worker.worker_id}" in head
    assert f"pid={crashed.process}" in head
    assert crashed.process != os.getpid()
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "RuntimeError: entrypoint failed on purpose"
    record = json.loads(js.format(crashed))
    assert (record["job_id"], record["pid"]) == ("J1", crashed.process)
    assert record["exc_info"].endswith("RuntimeError: entrypoint failed on purpose")
    started = next(r for r in log_lines.records if r.getMessage() == "job started")
    assert "room_name=lobby" in text.format(started)
    assert f"worker_id={worker.worker_id}" in text.format(started)
