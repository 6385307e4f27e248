"""Malformed and unknown server messages are logged and ignored; health endpoints."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livekit.protocol import agent, models
from wk_entrypoints import read_lines, scripted

from flowagents.worker import Worker, WorkerOptions

text = st.text(max_size=20)
jobs = st.builds(agent.Job, id=text, metadata=text, agent_name=text,
                 room=st.builds(models.Room, name=text))
server_messages = st.one_of(
    st.builds(lambda j, r: agent.ServerMessage(
        availability=agent.AvailabilityRequest(job=j, resuming=r)), jobs, st.booleans()),
    st.builds(lambda j, t: agent.ServerMessage(
        assignment=agent.JobAssignment(job=j, token=t)), jobs, text),
    st.builds(lambda i: agent.ServerMessage(termination=agent.JobTermination(job_id=i)), text),
    st.builds(lambda a, b: agent.ServerMessage(
        pong=agent.WorkerPong(last_timestamp=a, timestamp=b)),
        st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1)),
    st.builds(lambda w: agent.ServerMessage(
        register=agent.RegisterWorkerResponse(worker_id=w)), text),
    st.just(agent.ServerMessage()),
)
frames = st.one_of(st.binary(max_size=200), server_messages.map(lambda m: m.SerializeToString()))


@given(data=st.lists(frames, max_size=5))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_server_frame_is_handled_without_raising(data: list[bytes]) -> None:
    async def feed() -> None:
        worker = Worker(WorkerOptions(entrypoint_fnc=scripted, num_idle_processes=0,
                                      load_fnc=lambda: 0.0, assignment_timeout=0.01),
                        serve_http=False)
        for frame in data:
            worker._on_server_bytes(frame)
        await asyncio.sleep(0.015)
        await worker._tasks.cancel_all()
        await worker._job_tasks.cancel_all()

    logging.getLogger("flowagents.worker").setLevel(logging.CRITICAL)
    try:
        asyncio.run(feed())
    finally:
        logging.getLogger("flowagents.worker").setLevel(logging.NOTSET)


async def test_garbage_on_the_wire_is_logged_and_the_worker_carries_on(
        server: FakeLiveKitServer, make_worker, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    worker = await make_worker()
    await server.send_raw(b"\xff\x00garbage\x01")
    await server.send_text("not protobuf")
    await server.send(agent.ServerMessage(register=agent.RegisterWorkerResponse(worker_id="X")))
    await server.send(agent.ServerMessage())
    await server.send(agent.ServerMessage(termination=agent.JobTermination(job_id="nope")))
    out = tmp_path / "o"
    job = server.make_job("J1", metadata=json.dumps({"out": str(out)}))
    await server.dispatch(job)
    await server.job_status("J1", agent.JS_SUCCESS)
    assert worker.registrations == 1
    assert worker.healthy
    messages = {r.getMessage() for r in caplog.records}
    assert "ignoring a malformed server message" in messages
    assert "ignoring a text frame from the server" in messages
    assert "ignoring an unexpected server message" in messages
    assert read_lines(out)[0].startswith("started J1")
    assert not any(API_SECRET in r.getMessage() or API_SECRET in str(r.__dict__)
                   for r in caplog.records)


async def test_health_endpoints(server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker(serve_http=True, agent_name="health")
    await server.dispatch(server.make_job("J1", metadata=json.dumps(
        {"out": str(tmp_path / "o"), "mode": "wait"})))
    await server.job_status("J1", agent.JS_RUNNING)
    base = f"http://127.0.0.1:{worker.health_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/") as resp:
            assert resp.status == 200
        async with http.get(base + "/worker") as resp:
            state = await resp.json()
        async with http.get(base + "/metrics") as resp:
            metrics = await resp.text()
    assert state["agent_name"] == "health"
    assert state["connected"]
    assert state["healthy"]
    assert state["worker_id"] == "AW_1"
    assert state["status"] == "available"
    assert [j["id"] for j in state["jobs"]] == ["J1"]
    assert state["jobs"][0]["status"] == "running"
    assert "flowagents_worker_jobs_running 1.0" in metrics
    assert "flowagents_worker_job_launch_seconds_count 1.0" in metrics
    assert "flowagents_worker_load" in metrics
    assert "flowagents_worker_idle_processes" in metrics
    assert API_SECRET not in json.dumps(state)
    assert API_KEY not in json.dumps(state)

