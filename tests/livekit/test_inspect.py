"""The live graph view of a worker on a real LiveKit server: the agent's session runs in a job
process, hears the room over WebRTC (Silero VAD), and shows on the worker's ``/inspect`` with its
room while the user speaks; when the user leaves, the session leaves the page.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from livekit import api
from lk_participant import QUESTION_WAV, Participant
from lk_server import LiveKitServer


async def _sessions(port: int) -> list[dict[str, Any]]:
    """The page's data (each poll also tells the worker that someone watches)."""
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/inspect/sessions.json") as resp:
        rows: list[dict[str, Any]] = await resp.json()
        return rows


async def _until(port: int, pred: Any, within: float, what: str) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pred(rows := await _sessions(port)):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {rows}")
        await asyncio.sleep(0.3)
    return rows


async def test_the_page_shows_a_room_session_whose_counters_move_while_the_user_speaks(
        livekit_server: LiveKitServer, make_worker: Any, room_name: str) -> None:
    worker = await make_worker(agent_name="inspect", serve_http=True)
    port = worker.health_port
    user = Participant(livekit_server.url, livekit_server.api_key, livekit_server.api_secret,
                       room_name)
    await user.join(dispatch=api.RoomAgentDispatch(agent_name="inspect",
                                                   metadata=json.dumps({"mode": "voice"})))
    try:
        await user.wait_for(lambda: any(s == "listening" for _, s in user.agent_states), 20,
                            "the agent to listen")
        # the first poll starts the watch, and is answered once the job process has reported
        [before] = await _sessions(port)
        assert "vad" in before["nodes"]
        assert before["room"] == room_name
        [job] = worker.jobs.values()
        assert before["pid"] == job.proc.pid  # type: ignore[union-attr]
        assert before["job_id"] == job.job.id
        _, speech_end = await user.say(QUESTION_WAV)
        await user.wait_for(lambda: any(r.t > speech_end and r.rms > 300 for r in user.audio),
                            10, "the agent's answer audio")
        [after] = await _until(port, lambda r: len(r) == 1 and r[0]["nodes"]["playout"]["values"]
                               > before["nodes"].get("playout", {}).get("values", 0), 10,
                               "the answer's playout on the page")
    finally:
        await user.leave()
    nodes, earlier = after["nodes"], before["nodes"]
    # the room's audio reached the VAD and the gate, the question the STT, the answer the TTS
    assert nodes["vad"]["values"] > earlier["vad"]["values"]
    assert nodes["stt"]["values"] > 0
    assert nodes["tts"]["values"] > 0
    assert nodes["gate"]["last"].startswith("AudioFrame(data=int16[")
    assert sum(n["spent_ms"] for n in nodes.values()) > 0  # timed while the page is watched
    await _until(port, lambda r: r == [], 15, "the session to leave the page")
