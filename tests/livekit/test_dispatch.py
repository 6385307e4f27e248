"""Dispatch by a real LiveKit server: automatic (a job for every new room, to a worker without an
agent name), explicit (``AgentDispatchService``: agent name and metadata reach ``JobContext``),
and a named worker getting no automatic jobs."""

from __future__ import annotations

import asyncio
import json

from livekit import api, rtc
from lk_agents import read_events
from lk_participant import Participant
from lk_server import LiveKitServer


async def _wait_events(out_dir: str, predicate, within: float, what: str) -> list[dict]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        events = read_events(out_dir)
        if predicate(events):
            return events
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {events}")
        await asyncio.sleep(0.05)


async def test_worker_registers_with_the_server(make_worker) -> None:
    worker = await make_worker(agent_name="registers")
    assert worker.worker_id.startswith("AW_")
    assert worker.healthy


async def test_automatic_dispatch_sends_an_agent_when_a_participant_opens_a_room(
        livekit_server: LiveKitServer, make_worker, out_dir: str, room_name: str) -> None:
    worker = await make_worker()  # no agent name: automatic dispatch
    user = Participant(livekit_server.url, livekit_server.api_key, livekit_server.api_secret,
                       room_name)
    await user.join(publish=False)
    try:
        events = await _wait_events(out_dir, lambda ev: any(e["kind"] == "connected"
                                                            for e in ev), 15, "the agent")
        job = next(e for e in events if e["kind"] == "job")
        agent_identity = next(e["identity"] for e in events if e["kind"] == "connected")
        assert job["room"] == room_name
        assert job["agent_name"] == ""
        assert job["worker_id"] == worker.worker_id
        await user.wait_for(lambda: agent_identity in user.room.remote_participants, 5,
                            "the agent participant")
        kind = user.room.remote_participants[agent_identity].kind
        assert kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
    finally:
        await user.leave()


async def test_explicit_dispatch_carries_agent_name_and_metadata_to_the_job(
        lkapi: api.LiveKitAPI, make_worker, out_dir: str, room_name: str) -> None:
    await make_worker(agent_name="explicit")
    await lkapi.room.create_room(api.CreateRoomRequest(name=room_name))
    metadata = json.dumps({"customer": "c-42", "hold": 30})
    dispatch = await lkapi.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
        agent_name="explicit", room=room_name, metadata=metadata))
    events = await _wait_events(out_dir, lambda ev: any(e["kind"] == "connected" for e in ev),
                                15, "the dispatched job")
    job = next(e for e in events if e["kind"] == "job")
    assert (job["room"], job["agent_name"], job["metadata"]) == (room_name, "explicit", metadata)
    listed = [d for d in await lkapi.agent_dispatch.list_dispatch(room_name)
              if d.agent_name == "explicit"]  # the room also has its automatic dispatch
    assert [d.id for d in listed] == [dispatch.id]
    await lkapi.room.delete_room(api.DeleteRoomRequest(room=room_name))


async def test_a_named_worker_gets_no_automatic_jobs(
        livekit_server: LiveKitServer, lkapi: api.LiveKitAPI, make_worker, out_dir: str,
        room_name: str) -> None:
    await make_worker(agent_name="named-only")
    user = Participant(livekit_server.url, livekit_server.api_key, livekit_server.api_secret,
                       room_name)
    await user.join(publish=False)
    try:
        await asyncio.sleep(2.0)  # an automatic job goes out as the room is created
        assert read_events(out_dir) == []
        assert not user.room.remote_participants
        await lkapi.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
            agent_name="named-only", room=room_name, metadata="explicit"))
        events = await _wait_events(out_dir, lambda ev: any(e["kind"] == "connected"
                                                            for e in ev), 15, "the job")
        assert [e["metadata"] for e in events if e["kind"] == "job"] == ["explicit"]
    finally:
        await user.leave()
