"""How jobs end against a real server: the participant leaves, or the room is deleted (the
session closes, the job reports its final status, its process goes and the pool is warm again);
a worker drained during a job lets the job finish."""

from __future__ import annotations

import asyncio
import json

import psutil
from livekit import api
from lk_agents import ANSWER, read_events
from lk_participant import QUESTION_WAV, Participant
from lk_server import LiveKitServer

from flowagents.worker import Worker


def _dispatch(agent_name: str) -> api.RoomAgentDispatch:
    return api.RoomAgentDispatch(agent_name=agent_name, metadata=json.dumps({"mode": "voice"}))


def _ended(worker: Worker) -> asyncio.Queue[tuple[str, str | None]]:
    q: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
    worker.on("job_ended", lambda job_id, error: q.put_nowait((job_id, error)))
    return q


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _until(predicate, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _joined(server: LiveKitServer, room: str, agent_name: str) -> Participant:
    user = Participant(server.url, server.api_key, server.api_secret, room)
    await user.join(dispatch=_dispatch(agent_name))
    await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 20,
                        "the agent to listen")
    return user


async def test_participant_leaving_ends_the_session_and_the_job(
        livekit_server: LiveKitServer, make_worker, out_dir: str, room_name: str) -> None:
    worker = await make_worker(agent_name="end-leave")
    ended = _ended(worker)
    user = await _joined(livekit_server, room_name, "end-leave")
    await user.leave()
    job_id, error = await asyncio.wait_for(ended.get(), 15)
    assert error is None  # reported to the server as JS_SUCCESS
    events = [e for e in read_events(out_dir) if e["job"] == job_id]
    close = next(e for e in events if e["kind"] == "close")
    assert close["reason"] == "participant_disconnected"
    assert next(e for e in events if e["kind"] == "shutdown")["reason"] == \
        "participant disconnected"
    pid = events[0]["pid"]
    await _until(lambda: _gone(pid), 10, "the job process to exit")
    await _until(lambda: worker.pool.idle_count == 1, 15, "a warm process in the pool again")
    assert not worker.jobs


async def test_deleting_the_room_ends_the_session_and_the_job(
        livekit_server: LiveKitServer, lkapi: api.LiveKitAPI, make_worker, out_dir: str,
        room_name: str) -> None:
    worker = await make_worker(agent_name="end-delete")
    ended = _ended(worker)
    user = await _joined(livekit_server, room_name, "end-delete")
    try:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=room_name))
        job_id, error = await asyncio.wait_for(ended.get(), 15)
    finally:
        await user.leave()
    assert error is None
    events = [e for e in read_events(out_dir) if e["job"] == job_id]
    assert [e["kind"] for e in events].count("close") == 1
    assert next(e for e in events if e["kind"] == "shutdown")["reason"] == "room disconnected"
    await _until(lambda: _gone(events[0]["pid"]), 10, "the job process to exit")
    await _until(lambda: worker.pool.idle_count == 1, 15, "a warm process in the pool again")


async def test_a_drained_worker_lets_its_job_finish(
        livekit_server: LiveKitServer, lkapi: api.LiveKitAPI, make_worker, out_dir: str,
        room_name: str) -> None:
    worker = await make_worker(agent_name="end-drain")
    ended = _ended(worker)
    user = await _joined(livekit_server, room_name, "end-drain")
    drain = asyncio.create_task(worker.drain(drain_timeout=60))
    try:
        await asyncio.sleep(0.5)
        assert worker.draining
        assert not drain.done()
        # the job carries on: the question still gets its spoken answer
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(t.text == ANSWER and t.final
                                        for t in user.transcriptions), 10, "the answer")
        assert user.audible_seconds(speech_end) > 1.5
        # a new room meanwhile gets no agent from a draining worker
        other = f"{room_name}-new"
        await lkapi.room.create_room(api.CreateRoomRequest(name=other))
        await lkapi.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
            agent_name="end-drain", room=other))
        await asyncio.sleep(1.0)
        assert {e["room"] for e in read_events(out_dir)} == {room_name}
        assert not drain.done()
    finally:
        await user.leave()
    job_id, error = await asyncio.wait_for(ended.get(), 15)
    assert error is None
    await asyncio.wait_for(drain, 15)  # the worker closes once its job is done
    events = [e for e in read_events(out_dir) if e["job"] == job_id]
    assert next(e for e in events if e["kind"] == "close")["reason"] == \
        "participant_disconnected"
