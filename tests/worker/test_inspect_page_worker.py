"""The live graph view of a real worker, in a real browser: the session runs in a job process.

The fake LiveKit server dispatches a job to a worker (its process pool, forkserver job processes,
as in production); the job holds a scripted conversation in real time (``wk_sessions``). Headless
Chromium (Debian's package, installed by ``scripts/setup.sh``) opens the worker's ``/inspect``,
takes a screenshot, and reads the page twice: the job process's session is listed with its room,
job and graph, and its nodes' counters moved between the two looks. When the job ends, the page
lists no session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp
from browser import chromium, node_values
from fake_server import FakeLiveKitServer
from livekit.protocol import agent
from wk_sessions import converse

SHOTS = os.environ.get("FLOWAGENTS_TEST_SHOTS")
WATCHED = ("vad", "gate", "endpointing", "playout")

async def _rows(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        rows: list[dict[str, Any]] = await resp.json()
        return rows


async def _keep_watching(url: str) -> None:
    """A second viewer, polling as the page does, so the job reports throughout the test."""
    while True:
        await _rows(url)
        await asyncio.sleep(1.0)


async def test_the_worker_page_shows_a_job_process_session_whose_counters_move(
        server: FakeLiveKitServer, make_worker: Any, tmp_path: Path) -> None:
    worker = await make_worker(entrypoint_fnc=converse, prewarm_fnc=None, serve_http=True)
    page = f"http://127.0.0.1:{worker.health_port}/inspect"
    meta = json.dumps({"turns": 20, "seconds": 60.0})
    await server.dispatch(server.make_job("J7", room="support-room", metadata=meta))
    await server.job_status("J7", agent.JS_RUNNING, within=10)
    pid = worker.jobs["J7"].proc.pid
    async with asyncio.timeout(15):
        while True:  # poll the page's data, as a viewer does, until the job's session shows
            rows = await _rows(page + "/sessions.json")
            if rows and rows[0]["nodes"]:
                break
            await asyncio.sleep(0.2)
    assert rows[0]["id"] == f"{pid}-session-1"
    async with asyncio.timeout(30):
        while True:  # the first turn has gone through every stage the looks below compare
            nodes = (await _rows(page + "/sessions.json"))[0]["nodes"]
            if all(nodes.get(node, {}).get("values", 0) > 0 for node in WATCHED):
                break
            await asyncio.sleep(0.2)
    watcher = asyncio.create_task(_keep_watching(page + "/sessions.json"))
    try:
        await asyncio.sleep(1.0)
        first_dom = await chromium("--dump-dom", page, height=2400)
        await asyncio.sleep(2.5)
        shot = tmp_path / "worker-inspect.png"
        await chromium(f"--screenshot={shot}", page, height=2400)
        second_dom = await chromium("--dump-dom", page, height=2400)
        await server.terminate("J7")
        await server.job_status("J7", agent.JS_SUCCESS, within=10)
        after_dom = await chromium("--dump-dom", page, height=2400)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    first, second = node_values(first_dom), node_values(second_dom)
    # the job process's session, with where it runs and its graph drawn from the running graph
    assert f'id="{pid}-session-1"' in first_dom
    assert f"room support-room · job J7 · pid {pid}" in first_dom
    assert "<svg" in first_dom
    assert "endpointing" in first_dom.split("<svg", 1)[1]
    assert {"vad", "gate", "stt", "endpointing", "llm_reply", "tts", "playout"} <= set(first)
    # its counters moved between the two looks, as the conversation went on in the job process
    for node in WATCHED:
        assert second[node] > first[node] > 0, node
    png = shot.read_bytes()
    if SHOTS:  # keep the screenshot (FLOWAGENTS_TEST_SHOTS=folder)
        shutil.copy(shot, Path(SHOTS) / shot.name)
    assert png.startswith(b"\x89PNG")
    assert len(png) > 20_000
    # the job ended: its process is gone, and so is its session
    assert "0 running session(s)" in after_dom
    assert node_values(after_dom) == {}
