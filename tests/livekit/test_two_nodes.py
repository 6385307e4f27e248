"""Two LiveKit server nodes sharing a Redis on loopback, each in its own region: a room opened
through node A is hosted by node A, its agent comes from a worker registered with node B, and
the conversation works across the nodes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api
from lk_agents import ANSWER, AgentConfig
from lk_participant import QUESTION_WAV, Participant
from lk_server import LiveKitServer, NoGo, Redis, in_ci, start_server


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[LiveKitServer, LiveKitServer]]:
    try:
        redis = Redis()
    except FileNotFoundError as e:
        if in_ci():
            pytest.fail(str(e))
        pytest.skip(str(e))
    nodes: list[LiveKitServer] = []
    try:
        try:
            nodes.append(start_server(redis=redis.address, region="a"))
            nodes.append(start_server(redis=redis.address, region="b"))
        except NoGo as e:
            if in_ci():
                pytest.fail(str(e))
            pytest.skip(str(e))
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


def _node_id(server: LiveKitServer) -> str:
    assert server.state is not None
    log = (Path(server.state) / "server.log").read_text()
    found = re.search(r'"nodeID": "(ND_\w+)"', log)
    assert found, log[:2000]
    return found.group(1)


async def test_a_room_on_one_node_is_served_by_a_worker_on_the_other(
        two_nodes: tuple[LiveKitServer, LiveKitServer], make_worker, out_dir: str,
        room_name: str) -> None:
    node_a, node_b = two_nodes
    await make_worker(agent_name="two-nodes", config=AgentConfig(out_dir=out_dir),
                      ws_url=node_b.url)
    user = Participant(node_a.url, node_a.api_key, node_a.api_secret, room_name)
    await user.join(dispatch=api.RoomAgentDispatch(agent_name="two-nodes",
                                                   metadata=json.dumps({"mode": "voice"})))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 30,
                            "the agent from the other node")
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(t.text == ANSWER and t.final
                                        for t in user.transcriptions), 15, "the answer")
        assert user.audible_seconds(speech_end) > 1.5
        async with api.LiveKitAPI(node_a.url, node_a.api_key, node_a.api_secret) as lk:
            rooms = (await lk.room.list_rooms(api.ListRoomsRequest(names=[room_name]))).rooms
    finally:
        await user.leave()
    assert [r.name for r in rooms] == [room_name]
    # the room lives on node A (its region): both participants' RTC sessions run there; the
    # worker is registered with node B only, which assigned the job
    log_a = (Path(node_a.state or "") / "server.log").read_text()
    log_b = (Path(node_b.state or "") / "server.log").read_text()
    assert _node_id(node_a) != _node_id(node_b)
    sessions_a = _sessions(log_a, room_name)
    assert "user" in sessions_a
    assert any(p.startswith("agent-") for p in sessions_a)
    assert not _sessions(log_b, room_name)
    assert re.search(r"worker registered.*two-nodes", log_b)
    assert not re.search(r"worker registered.*two-nodes", log_a)
    assert re.search(rf"assigned job to worker.*{room_name}", log_b)


def _sessions(log: str, room: str) -> set[str]:
    """The participants whose RTC session this node runs in ``room``."""
    return set(re.findall(rf'starting RTC session\s+{{"room": "{room}".*?"participant": "([^"]+)"',
                          log))
