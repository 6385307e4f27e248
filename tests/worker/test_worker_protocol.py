"""Acceptance tests of the worker against a fake LiveKit server speaking the real protocol."""

from __future__ import annotations

import json
from pathlib import Path

from fake_server import FakeLiveKitServer
from livekit.protocol import agent
from wk_entrypoints import read_lines

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
    assert reg.allowed_permissions.can_publish and reg.allowed_permissions.agent
    assert worker.worker_id == "AW_1"
    assert server.auth_failures == 0


async def test_bad_secret_is_refused(server: FakeLiveKitServer, make_worker) -> None:
    worker = await make_worker(api_secret="wrong-secret-wrong-secret-wrong-secret", wait=False,
                               max_retry=2)
    from fake_server import until
    await until(lambda: not worker.healthy)
    assert server.auth_failures == 2


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
    assert lines[0].startswith("started J1") and lines[0].endswith("warm=True")
    assert lines[1:] == ["shutdown J1 "]
    assert worker.jobs == {}
