"""Scale-out on one server with two workers in separate processes: ten rooms' jobs spread by
load (each worker is full at five jobs), and ``kill -9`` of a worker mid-job: later dispatches go
to the other one, measured from the kill.

LiveKit's server (v1.13.5) does not reassign a dead worker's running jobs (its agent handler
forgets them): the room whose agent died stays without one until the application dispatches
again, which the test does through ``AgentDispatchService`` and times.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import psutil
import pytest
from livekit import api
from lk_agents import read_events
from lk_server import LiveKitServer
from lk_worker_main import WorkerProcess


@pytest.fixture
async def workers(livekit_server: LiveKitServer, out_dir: str) -> AsyncIterator[tuple[
        WorkerProcess, WorkerProcess, str]]:
    name = f"scale-{uuid.uuid4().hex[:6]}"
    a, b = (WorkerProcess(livekit_server, out_dir, name) for _ in range(2))
    try:
        await asyncio.gather(a.registered(), b.registered())
        yield a, b, name
    finally:
        a.stop()
        b.stop()


async def _dispatch(lkapi: api.LiveKitAPI, room: str, agent_name: str) -> None:
    await lkapi.room.create_room(api.CreateRoomRequest(name=room))
    await lkapi.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
        agent_name=agent_name, room=room, metadata=json.dumps({"mode": "probe"})))


async def _connected(out_dir: str, rooms: set[str], within: float) -> dict[str, dict]:
    """The first ``connected`` event of each room, once every room has one."""
    deadline = time.monotonic() + within
    while True:
        got: dict[str, dict] = {}
        for e in read_events(out_dir):
            if e["kind"] == "connected" and e["room"] in rooms:
                got.setdefault(e["room"], e)
        if set(got) == rooms:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"rooms without an agent: {rooms - set(got)}")
        await asyncio.sleep(0.05)


def _worker_of(out_dir: str) -> dict[str, str]:
    return {e["job"]: e["worker_id"] for e in read_events(out_dir) if e["kind"] == "job"}


async def test_ten_rooms_spread_by_load_and_a_killed_worker_is_replaced(
        workers: tuple[WorkerProcess, WorkerProcess, str], lkapi: api.LiveKitAPI,
        out_dir: str) -> None:
    a, b, name = workers
    rooms = [f"{name}-{i}" for i in range(10)]
    for room in rooms:  # one after another: each job counts in its worker's load
        await _dispatch(lkapi, room, name)
        await _connected(out_dir, {room}, 30)
    first = await _connected(out_dir, set(rooms), 1)
    owner = _worker_of(out_dir)
    per_worker = Counter(owner[e["job"]] for e in first.values())
    assert per_worker == {a.worker_id: 5, b.worker_id: 5}, per_worker

    # keep one job on each worker, end the others
    keep_a = next(r for r in rooms if owner[first[r]["job"]] == a.worker_id)
    keep_b = next(r for r in rooms if owner[first[r]["job"]] == b.worker_id)
    for room in rooms:
        if room not in (keep_a, keep_b):
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))
    await asyncio.sleep(1.0)

    a_job_pid = first[keep_a]["pid"]
    killed_at = time.monotonic()
    a.kill()
    later = [f"{name}-after-{i}" for i in range(3)]
    for room in later:
        await _dispatch(lkapi, room, name)
    after = await _connected(out_dir, set(later), 30)
    owner = _worker_of(out_dir)
    assert {owner[e["job"]] for e in after.values()} == {b.worker_id}
    first_replacement = min(e["t"] for e in after.values()) - killed_at

    # the killed worker's job ends too (its process sees the worker gone) and leaves the room
    deadline = time.monotonic() + 15
    while psutil.pid_exists(a_job_pid) and psutil.Process(a_job_pid).status() != \
            psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the killed worker's job process is still running"
        await asyncio.sleep(0.05)
    deadline = time.monotonic() + 30
    while any(p.identity == first[keep_a]["identity"] for p in (await lkapi.room.list_participants(
            api.ListParticipantsRequest(room=keep_a))).participants):
        assert time.monotonic() < deadline, "the dead agent is still in its room"
        await asyncio.sleep(0.05)
    agent_gone = time.monotonic() - killed_at
    # the server does not reassign it: the application dispatches again
    await lkapi.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
        agent_name=name, room=keep_a, metadata=json.dumps({"mode": "probe"})))
    deadline = time.monotonic() + 15
    while True:
        back = [e for e in read_events(out_dir) if e["kind"] == "connected"
                and e["room"] == keep_a and e["t"] > killed_at]
        if back:
            break
        assert time.monotonic() < deadline, "no agent came back to the room"
        await asyncio.sleep(0.05)
    assert _worker_of(out_dir)[back[0]["job"]] == b.worker_id
    without_agent = back[0]["t"] - killed_at
    print(f"kill -9: first new room served by the other worker {first_replacement:.3f} s "
          f"after the kill; the dead agent left its room after {agent_gone:.3f} s; "
          f"re-dispatched, the room had an agent again {without_agent:.3f} s after the kill")
    assert first_replacement < 5.0
