"""Acceptance tests of the worker against a fake LiveKit server speaking the real protocol."""

from __future__ import annotations

import json
from pathlib import Path

from fake_server import FakeLiveKitServer
from livekit.protocol import agent
from wk_entrypoints import read_lines

from flowagents.errors import NOT_GIVEN
from flowagents.job.request import JobRequest
from flowagents.worker import WorkerOptions


def meta(out: Path, mode: str = "return", **kw: object) -> str:
    return json.dumps({"out": str(out), "mode": mode, **kw})


async def test_registration_carries_type_name_and_permissions(server: FakeLiveKitServer,
                                                              make_worker) -> None:
    worker = await make_worker(agent_name="alice", version="1.2")
    reg = (await server.wait_for("register")).register
    assert reg.agent_name == "alice"
    assert reg.version == "1.2"
    assert reg.type == agent.JT_ROOM
    assert reg.allowed_permissions.can_publish
    assert reg.allowed_permissions.agent
    assert worker.worker_id == "AW_1"
    assert server.auth_failures == 0


async def test_assignment_runs_entrypoint_in_prewarmed_process(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker()
    out = tmp_path / "out.txt"
    job = server.make_job("J1", metadata=meta(out))
    answer = await server.dispatch(job)
    assert answer.available
    assert answer.participant_identity == "agent-J1"
    await server.job_status("J1", agent.JS_SUCCESS)
    assert server.job_statuses("J1") == [agent.JS_RUNNING, agent.JS_SUCCESS]
    lines = read_lines(out)
    assert lines[0].startswith("started J1")
    assert lines[0].endswith("warm=True")
    assert lines[1:] == ["shutdown J1 "]
    assert worker.jobs == {}


async def test_request_fnc_can_reject_and_choose_identity(server: FakeLiveKitServer,
                                                           make_worker) -> None:
    async def choose(req: JobRequest) -> None:
        if req.room_name == "private":
            await req.reject()
        else:
            await req.accept(identity="bot", name="Bot", attributes={"k": "v"})

    await make_worker(request_fnc=choose)
    rejected = await server.offer(server.make_job("J1", room="private"))
    accepted = await server.offer(server.make_job("J2", room="public"))
    assert not rejected.available
    assert accepted.available
    assert (accepted.participant_identity, accepted.participant_name) == ("bot", "Bot")
    assert dict(accepted.participant_attributes) == {"k": "v"}


async def test_request_sees_resuming_and_default_accepts_it(server: FakeLiveKitServer,
                                                            make_worker) -> None:
    seen: dict[str, bool] = {}

    async def record(req: JobRequest) -> None:
        seen[req.id] = req.resuming
        await req.accept()

    await make_worker(request_fnc=record)
    assert (await server.offer(server.make_job("J1"), resuming=True)).available
    assert (await server.offer(server.make_job("J2"))).available
    assert seen == {"J1": True, "J2": False}


async def test_default_request_fnc_accepts_a_resuming_job(server: FakeLiveKitServer,
                                                          make_worker) -> None:
    await make_worker()
    answer = await server.offer(server.make_job("J1"), resuming=True)
    assert answer.available
    assert answer.participant_identity == "agent-J1"


async def test_unavailable_when_load_is_at_threshold(server: FakeLiveKitServer,
                                                     make_worker) -> None:
    await make_worker(load_fnc=lambda: 0.7)
    answer = await server.offer(server.make_job("J1"))
    assert not answer.available
    status = await server.wait_for("update_worker")
    assert status.update_worker.status == agent.WS_FULL


async def test_dev_mode_has_no_load_limit_and_no_idle_processes(server: FakeLiveKitServer,
                                                                 make_worker,
                                                                 tmp_path: Path) -> None:
    worker = await make_worker(dev_mode=True, load_fnc=lambda: 0.99, num_idle_processes=NOT_GIVEN)
    assert worker.pool.idle_count == 0
    assert worker.pool.warming_count == 0
    out = tmp_path / "out.txt"
    assert (await server.dispatch(server.make_job("J1", metadata=meta(out)))).available
    await server.job_status("J1", agent.JS_SUCCESS)
    assert read_lines(out)[0].startswith("started J1")


async def test_worker_status_is_sent_periodically_with_job_count(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    await make_worker()
    await server.dispatch(server.make_job("J1", metadata=meta(tmp_path / "o", "wait")))
    await server.job_status("J1", agent.JS_RUNNING)
    msg = await server.wait_for("update_worker", lambda m: m.update_worker.job_count == 1)
    assert msg.update_worker.status == agent.WS_AVAILABLE
    n = len(server.of_kind("update_worker"))
    await server.wait_for("update_worker", lambda m: len(server.of_kind("update_worker")) > n + 1)
    await server.terminate("J1")
    await server.job_status("J1", agent.JS_SUCCESS)
    assert server.job_statuses("J1") == [agent.JS_RUNNING, agent.JS_SUCCESS]
    assert read_lines(tmp_path / "o")[1] == "shutdown J1 terminated by the server"


def test_default_options_match_livekit() -> None:
    async def entry(_ctx: object) -> None: ...

    opts = WorkerOptions(entrypoint_fnc=entry)
    assert opts.assignment_timeout == 7.5
    assert opts.update_status_interval == 2.5
    assert opts.max_retry == 16
    assert opts.initialize_process_timeout == 10.0
    assert (opts.job_memory_warn_mb, opts.job_memory_limit_mb) == (1000.0, 0.0)
    prod, dev = opts.resolved(dev_mode=False), opts.resolved(dev_mode=True)
    assert (prod.port, dev.port) == (8081, 0)  # dev: any free port
    assert prod.load_threshold == 0.7
    assert dev.load_threshold == float("inf")
    assert dev.num_idle_processes == 0
    assert 1 <= prod.effective_num_idle_processes <= 4
    secret_opts = WorkerOptions(entrypoint_fnc=entry, api_secret="s3cr3t-value")
    assert "s3cr3t-value" not in repr(secret_opts)


async def test_assignment_after_timeout_is_ignored(server: FakeLiveKitServer, make_worker,
                                                   tmp_path: Path) -> None:
    worker = await make_worker(assignment_timeout=0.2)
    out = tmp_path / "out.txt"
    job = server.make_job("J1", metadata=meta(out))
    assert (await server.offer(job)).available
    from fake_server import until
    await until(lambda: not worker._pending)
    await server.assign(job)
    # a job offered after it still runs, so the late assignment was seen and dropped
    out2 = tmp_path / "out2.txt"
    await server.dispatch(server.make_job("J2", metadata=meta(out2)))
    await server.job_status("J2", agent.JS_SUCCESS)
    assert server.job_statuses("J1") == []
    assert read_lines(out) == []


async def test_duplicate_assignment_is_ignored(server: FakeLiveKitServer, make_worker,
                                               tmp_path: Path) -> None:
    await make_worker(num_idle_processes=2)
    out = tmp_path / "out.txt"
    job = server.make_job("J1", metadata=meta(out, "wait"))
    await server.dispatch(job)
    await server.job_status("J1", agent.JS_RUNNING)
    await server.assign(job)
    await server.terminate("J1")
    await server.job_status("J1", agent.JS_SUCCESS)
    assert [ln.split()[0] for ln in read_lines(out)] == ["started", "shutdown"]
    assert server.job_statuses("J1") == [agent.JS_RUNNING, agent.JS_SUCCESS]


async def test_reconnect_reregisters_and_migrates_running_job(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker()
    out = tmp_path / "out.txt"
    await server.dispatch(server.make_job("J1", metadata=meta(out, "wait")))
    await server.job_status("J1", agent.JS_RUNNING)
    server.refuse = True  # the first reconnection attempts fail: back-off, then success
    await server.drop()
    from fake_server import until
    await until(lambda: server.connections == 1 and worker._ws is None)
    import asyncio
    await asyncio.sleep(0.2)
    server.refuse = False
    await server.wait_connected(2)
    migrate = await server.wait_for("migrate_job")
    assert list(migrate.migrate_job.job_ids) == ["J1"]
    assert worker.registrations == 2
    assert "J1" in worker.jobs
    await server.terminate("J1")
    await server.job_status("J1", agent.JS_SUCCESS)
    assert [ln.split()[0] for ln in read_lines(out)] == ["started", "shutdown"]
