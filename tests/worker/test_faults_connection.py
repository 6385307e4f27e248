"""Fault tests of the worker's connection, as an operator meets them (issue 12).

Missing settings fail before anything starts; refused credentials are fatal at once; the back-off
outlives sessions under a flapping server; the WebSocket handshake has its own timeout; after
giving up the worker exits non-zero once its running jobs are done. Each asserts its figure, with
short real timers set by options. No log line of any of them carries a secret (see conftest).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from conftest import JWT, LogLines, fast_options
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer, until
from livekit.protocol import agent
from wk_entrypoints import read_lines

from flowagents.errors import NOT_GIVEN
from flowagents.worker import HealthServerError, Worker, WorkerOptions
from flowagents.worker.connection import AuthError, ConnectError, agent_ws_url, public_url
from flowagents.worker.options import MissingSettingsError

HERE = Path(__file__).parent
WRONG_SECRET = "wrong-secret-wrong-secret-wrong-secret"


async def run_cli(*args: str, env: dict[str, str], within: float = 20.0,
                  ) -> tuple[int, str, float]:
    """Run ``flowagents <args>`` as a process; its exit code, stderr and run time."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowagents.cli.main", *args, cwd=HERE, env={**clean, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    text = err.decode(errors="replace")
    assert API_SECRET not in text
    assert WRONG_SECRET not in text
    assert not JWT.search(text)
    return proc.returncode, text, time.monotonic() - began


# -- start-up ---------------------------------------------------------------------------------


async def test_missing_settings_fail_before_anything_starts(monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)

    async def entry(_ctx: object) -> None: ...

    worker = Worker(WorkerOptions(entrypoint_fnc=entry), serve_http=False)
    with pytest.raises(MissingSettingsError) as info:
        await asyncio.wait_for(worker.run(), 1.0)
    assert len(info.value.missing) == 3
    assert "LIVEKIT_URL" in str(info.value)
    assert worker.pool.warming_count == 0  # nothing was started


def test_a_url_is_shown_without_credentials_or_query() -> None:
    url = agent_ws_url("https://user:pa55@lk.example.com:7443/base/?token=abc")
    assert url == "wss://user:pa55@lk.example.com:7443/base/agent"
    assert public_url(url) == "wss://lk.example.com:7443/base/agent"


def test_blank_settings_count_as_missing() -> None:
    async def entry(_ctx: object) -> None: ...

    opts = WorkerOptions(entrypoint_fnc=entry, ws_url=" ", api_key="k", api_secret="")
    with pytest.raises(MissingSettingsError) as info:
        opts.check_settings()
    assert info.value.missing == ["the server URL (--url or LIVEKIT_URL)",
                                  "the API secret (--api-secret or LIVEKIT_API_SECRET)"]


async def test_start_without_settings_exits_2_with_one_line() -> None:
    code, err, took = await run_cli("start", "wk_cli:cli_opts", "--port", "0", env={})
    assert code == 2
    assert err.strip().splitlines() == [
        "error: missing the server URL (--url or LIVEKIT_URL), the API key (--api-key or "
        "LIVEKIT_API_KEY), the API secret (--api-secret or LIVEKIT_API_SECRET)"]
    assert took < 15  # no retrying: the import is most of it


async def test_connect_without_settings_exits_2() -> None:
    code, err, _took = await run_cli("connect", "wk_entrypoints:probe", "--room", "r", env={})
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: missing the server URL")


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_fatal_at_once(server: FakeLiveKitServer, make_worker,
                                                     log_lines: LogLines, status: int) -> None:
    server.auth_status = status
    began = time.time()
    worker = await make_worker(api_secret=WRONG_SECRET, wait=False, max_retry=16)
    with pytest.raises(AuthError) as info:
        await asyncio.wait_for(worker.run_task, 10)
    exited = time.time()
    refused = next(r for r in log_lines.records
                   if r.getMessage() == "the server refused the worker's credentials")
    assert refused.created - began < 1.0  # the first answer is final
    assert exited - began < 5.0  # and the worker is down within seconds (pool included)
    assert server.auth_failures == 1  # never retried
    assert info.value.status == status
    assert str(info.value) == (f"the server refused the worker's credentials (HTTP {status}) at "
                               f"ws://127.0.0.1:{server.port}/agent: check the API key and secret")
    assert WRONG_SECRET not in str(info.value)


async def test_start_with_a_wrong_secret_prints_the_cause_and_url_and_exits_1(
        server: FakeLiveKitServer) -> None:
    code, err, took = await run_cli(
        "start", "wk_cli:cli_opts", "--port", "0", "--log-level", "WARNING",
        env={"LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY,
             "LIVEKIT_API_SECRET": WRONG_SECRET})
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last == (f"error: the server refused the worker's credentials (HTTP 401) at "
                    f"ws://127.0.0.1:{server.port}/agent: check the API key and secret")
    assert "Traceback" not in err
    assert WRONG_SECRET not in err
    assert server.auth_failures == 1
    assert took < 15


async def test_json_log_format_writes_one_object_a_line(server: FakeLiveKitServer) -> None:
    code, err, _took = await run_cli(
        "start", "wk_cli:cli_opts", "--port", "0", "--log-format", "json",
        env={"LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY,
             "LIVEKIT_API_SECRET": WRONG_SECRET})
    assert code == 1
    lines = [json.loads(line) for line in err.strip().splitlines()]
    refused = next(r for r in lines if r["message"] == "the server refused the worker's "
                   "credentials")
    assert refused["level"] == "ERROR"
    assert refused["name"] == "flowagents.worker"
    assert f"ws://127.0.0.1:{server.port}/agent" in refused["reason"]
    assert all({"time", "level", "name", "message", "pid"} <= set(r) for r in lines)
    assert WRONG_SECRET not in err


# -- reconnect --------------------------------------------------------------------------------


async def test_backoff_survives_sessions_under_a_flapping_server(
        server: FakeLiveKitServer, make_worker) -> None:
    """Each session dies right after registering: the waits between them still grow."""
    server.flap = True
    await make_worker(wait=False, max_retry=100, retry_base_delay=0.05, retry_max_delay=0.4)
    await asyncio.sleep(2.0)
    times = list(server.registered_at)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # waits: 0.05, 0.1, 0.2, 0.4, 0.4 ... (+ jitter < 0.025): about 7 sessions in 2 s, not 1000
    assert 4 <= len(times) <= 9
    for i, gap in enumerate(gaps):
        assert gap >= min(0.05 * 2 ** i, 0.4) - 0.01, gaps
    assert gaps[-1] >= 0.39


async def test_a_server_that_keeps_flapping_counts_against_max_retry(
        server: FakeLiveKitServer, make_worker) -> None:
    server.flap = True
    worker = await make_worker(wait=False, max_retry=3)
    with pytest.raises(ConnectError) as info:
        await asyncio.wait_for(worker.run_task, 10)
    assert len(server.registered_at) == 3
    assert str(info.value) == ("the connection was lost right after registering at "
                               f"ws://127.0.0.1:{server.port}/agent")


async def test_a_session_that_lasted_resets_the_backoff(server: FakeLiveKitServer,
                                                        make_worker) -> None:
    server.flap = True
    worker = await make_worker(max_retry=100, retry_base_delay=0.05, retry_max_delay=0.5)
    await until(lambda: len(server.registered_at) >= 5, within=5)  # back-off now at its cap
    server.flap = False
    await until(lambda: worker.registrations == len(server.registered_at)
                and worker._ws is not None and not worker._ws.closed, within=5)
    await asyncio.sleep(0.6)  # longer than retry_max_delay: a session that lasted
    n = len(server.registered_at)
    dropped = asyncio.get_running_loop().time()
    await server.drop()
    await until(lambda: len(server.registered_at) > n, within=5)
    assert server.registered_at[n] - dropped < 0.3  # at once, not after the capped 0.5 s


async def test_handshake_that_never_answers_times_out(make_worker, log_lines: LogLines,
                                                      ) -> None:
    """A server that accepts TCP and never answers costs connect_timeout per attempt."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    try:
        began = time.time()
        worker = await make_worker(url=f"http://127.0.0.1:{port}", wait=False, max_retry=2,
                                   connect_timeout=0.3, retry_base_delay=0.05)
        with pytest.raises(ConnectError) as info:
            await asyncio.wait_for(worker.run_task, 10)
        gave_up = next(r for r in log_lines.records
                       if r.getMessage() == "giving up connecting to the server")
        took = gave_up.created - began
    finally:
        for w in accepted:
            w.close()
        tcp.close()
        await tcp.wait_closed()
    assert len(accepted) == 2
    assert 0.6 <= took < 1.5  # two 0.3 s handshakes and one short wait; not 300 s
    assert str(info.value) == (f"the WebSocket handshake timed out after 0.3 s at "
                               f"ws://127.0.0.1:{port}/agent")


async def test_after_giving_up_the_worker_exits_once_running_jobs_are_done(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker(max_retry=2, serve_http=True, connect_timeout=0.5)
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=json.dumps(
        {"out": str(out), "mode": "sleep", "seconds": 4.0})))
    await server.job_status("J1", agent.JS_RUNNING)
    server.refuse = True
    await server.drop()
    await until(lambda: not worker.healthy, within=3)
    gave_up = time.monotonic()
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{worker.health_port}/") as resp:
        assert resp.status == 503
    assert not worker.run_task.done()  # J1 still runs
    assert "J1" in worker.jobs
    with pytest.raises(ConnectError, match="the server refused the connection \\(HTTP 503\\)"):
        await asyncio.wait_for(worker.run_task, 10)
    exited = time.monotonic()
    assert read_lines(out)[-1] == "shutdown J1 "  # J1 ended by itself, not cut short
    assert exited - gave_up > 0.5
    assert worker.jobs == {}


async def test_start_exits_1_after_giving_up(server: FakeLiveKitServer) -> None:
    server.refuse = True
    code, err, took = await run_cli(
        "start", "wk_cli:quick_give_up", "--port", "0", "--log-level", "WARNING",
        env={"LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY,
             "LIVEKIT_API_SECRET": API_SECRET})
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"error: the server refused the connection (HTTP 503) at ws://127.0.0.1:{server.port}"
        "/agent")
    assert took < 15


@pytest.fixture
async def two_dev_workers() -> AsyncIterator[list[Worker]]:
    srv = FakeLiveKitServer()
    await srv.start()
    workers = [Worker(fast_options(srv.url, port=NOT_GIVEN), dev_mode=True) for _ in range(2)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        for w in workers:
            await asyncio.wait_for(w.wait_registered(), 10)
        yield workers
    finally:
        for w in workers:
            await w.aclose()
        await asyncio.gather(*tasks, return_exceptions=True)
        await srv.aclose()


async def test_two_dev_workers_on_one_host_each_get_a_free_health_port(
        two_dev_workers: list[Worker]) -> None:
    ports = [w.health_port for w in two_dev_workers]
    assert all(p > 0 for p in ports)
    assert ports[0] != ports[1]
    async with aiohttp.ClientSession() as http:
        for port in ports:
            async with http.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200


# -- logs, as the operator reads them -----------------------------------------------------------


async def test_start_logs_a_failed_job_with_its_context_and_traceback(
        server: FakeLiveKitServer, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowagents.cli.main", "start", "wk_cli:cli_opts", "--port", "0",
        cwd=HERE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**clean, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY,
             "LIVEKIT_API_SECRET": API_SECRET})
    try:
        await server.wait_connected(within=20)
        await server.dispatch(server.make_job("J1", room="lobby", metadata=json.dumps(
            {"out": str(tmp_path / "o"), "mode": "fail"})))
        await server.job_status("J1", agent.JS_FAILED, within=10)
        proc.send_signal(signal.SIGINT)
        _out, err_bytes = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    err = err_bytes.decode(errors="replace")
    assert API_SECRET not in err
    assert not JWT.search(err)
    lines = err.splitlines()
    failed = next(line for line in lines if " job failed " in line)
    assert failed.endswith(' WARNING flowagents.worker job failed job_id=J1 room_name=lobby '
                           'worker_id=AW_1 error="RuntimeError: entrypoint failed on purpose"')
    # the job process's own record, relayed: its context, its pid, then its traceback
    at = next(i for i, line in enumerate(lines) if "job entrypoint failed" in line)
    assert "job_id=J1 room_name=lobby worker_id=AW_1 pid=" in lines[at]
    assert lines[at + 1] == "Traceback (most recent call last):"
    assert "RuntimeError: entrypoint failed on purpose" in lines[at + 2:at + 12]


async def test_a_taken_health_port_is_one_clear_error(server: FakeLiveKitServer) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        worker = Worker(fast_options(server.url, port=port), serve_http=True)
        with pytest.raises(HealthServerError) as info:
            await asyncio.wait_for(worker.run(), 5)
        assert str(info.value).startswith(f"cannot serve health and metrics on 127.0.0.1:{port}: ")
        assert str(info.value).endswith("(choose another --port)")
        assert worker.pool.warming_count == 0  # nothing else was started
        assert server.connections == 0
        await asyncio.wait_for(worker.aclose(), 1)
    finally:
        taken.close()
