"""The live graph view of a worker: job processes report their sessions over IPC while watched.

From the messages up: the inspection messages cross a real channel unchanged (and a session id
that cannot name a URL is refused); the worker's board replaces a process's sessions with each
report, forgets a process that exits, and stops the reports once nobody polls; a job process
reports its sessions (graph once, counters each time) only while watched; and a real worker
with a real job process shows the job's sessions on ``/inspect/sessions.json`` while they run,
drops one that ends, and drops them all when the process is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from fake_server import FakeLiveKitServer
from livekit.protocol import agent
from pydantic import ValidationError
from wk_sessions import converse

from flowagents.graph import graph_from_json, graph_to_json
from flowagents.graph.render import to_dot, to_svg
from flowagents.ipc.channel import Channel
from flowagents.ipc.inspect_report import SessionReporter, enable_inspection
from flowagents.ipc.messages import (
    InspectWatch,
    Message,
    NodeSample,
    SessionSample,
    SessionsReport,
)
from flowagents.session import AgentSession
from flowagents.session.inspect import INSPECTOR
from flowagents.testing import (
    FakeLLM,
    FakeSTT,
    FakeTTS,
    FakeVAD,
    RecordingAudioOutput,
    Script,
    VirtualAudioInput,
)
from flowagents.voice import Agent, SessionIO
from flowagents.voice.options import SessionOptions
from flowagents.worker.inspect_board import InspectBoard
from graphs.default import default_graph
from graphs.example import example_graph

_script = Script()
VOICE = default_graph(vad=FakeVAD(_script), stt=FakeSTT(_script), llm=FakeLLM(_script),
                      tts=FakeTTS(_script), options=SessionOptions())  # a session's graph
SPEC = graph_to_json(VOICE, indent=None)
DOT = to_dot(example_graph())


def _sample(sid: str, values: int = 1, spec: str | None = None,
            dot: str | None = None) -> SessionSample:
    return SessionSample(id=sid, agent_state="listening", user_state="speaking",
                         nodes={"vad": NodeSample(values=values, rate=50.0, last="VADEvent(…)",
                                                  age=0.02, spent_ms=1.5)},
                         graph_spec=spec, graph_dot=dot)


async def test_inspection_messages_cross_a_channel_unchanged() -> None:
    a, b = socket.socketpair()
    worker, job = await Channel.open(a), await Channel.open(b)
    report = SessionsReport(job_id="J1", room="room-1",
                            sessions=[_sample("session-1", 7, SPEC), _sample("s-3", dot=DOT),
                                      _sample("session-2")])
    await job.send(report)
    await worker.send(InspectWatch(interval=0.5))
    await worker.send(InspectWatch())
    assert await worker.recv() == report
    assert await job.recv() == InspectWatch(interval=0.5)
    assert await job.recv() == InspectWatch(interval=0.0)
    await worker.aclose()
    await job.aclose()
    with pytest.raises(ValidationError):  # ids name URLs and page elements: plain names only
        _sample("../session-1")
    with pytest.raises(ValidationError):
        InspectWatch(interval=-1.0)


async def test_the_board_replaces_a_process_sessions_and_draws_their_graphs() -> None:
    watches: list[float] = []
    board = InspectBoard(interval=0.5, linger=60.0, on_watch=watches.append)
    board.update(11, SessionsReport(sessions=[_sample("session-1")]))
    assert board.sessions() == []  # nobody watches: a late report is dropped
    board.touch()
    board.touch()
    assert watches == [0.5]  # the processes are asked once to report
    board.update(11, SessionsReport(job_id="J1", room="r1", sessions=[
        _sample("session-1", 3, SPEC), _sample("session-2", 4, dot=DOT)]))
    board.update(22, SessionsReport(job_id="J2", room="r2", sessions=[_sample("session-1")]))
    assert [(s.page_id, s.job_id, s.room) for s in board.sessions()] == [
        ("11-session-1", "J1", "r1"), ("11-session-2", "J1", "r1"), ("22-session-1", "J2", "r2")]
    dot_svg = await board.graph_svg("11-session-2")  # a graph that came as DOT text
    assert dot_svg is not None
    assert "<svg" in dot_svg
    # the next report of process 11 lacks session-2 (it ended) and carries no graph (sent once)
    board.update(11, SessionsReport(job_id="J1", room="r1", sessions=[_sample("session-1", 9)]))
    [one] = [s for s in board.sessions() if s.pid == 11]
    assert one.row()["nodes"]["vad"]["values"] == 9
    assert one.spec == SPEC
    assert board.find("11-session-2") is None
    svg = await board.graph_svg("11-session-1")  # rebuilt from its spec, drawn as it ran
    assert svg == to_svg(VOICE)
    assert await board.graph_svg("22-session-1") is None  # its graph never came
    board.drop(22)  # the process exited
    assert [s.page_id for s in board.sessions()] == ["11-session-1"]
    board.close()


async def test_the_poll_that_starts_a_watch_waits_for_the_processes_first_reports() -> None:
    asked: list[float] = []

    def on_watch(interval: float) -> int:
        asked.append(interval)
        return 2  # two job processes were told

    board = InspectBoard(interval=0.5, linger=60.0, on_watch=on_watch)
    board.touch()
    waiting = asyncio.create_task(board.ready())
    await asyncio.sleep(0.05)
    board.update(11, SessionsReport(sessions=[_sample("session-1")]))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # one of the two has reported
    board.drop(22)  # the other one exited: nothing more to wait for
    await asyncio.wait_for(waiting, 1.0)
    assert [s.page_id for s in board.sessions()] == ["11-session-1"]
    board.touch()  # an ongoing watch: nothing to wait for
    await asyncio.wait_for(board.ready(), 0.1)
    board.close()
    quiet = InspectBoard(on_watch=on_watch)
    quiet.touch()  # no process ever reports: the poll is answered after ``within``
    loop = asyncio.get_running_loop()
    began = loop.time()
    await quiet.ready(within=0.2)
    assert 0.2 <= loop.time() - began < 1.0
    quiet.close()
    assert asked == [0.5, 1.0]


async def test_the_board_stops_the_reports_and_forgets_once_nobody_polls() -> None:
    watches: list[float] = []
    board = InspectBoard(interval=0.5, linger=0.2, on_watch=watches.append)
    board.touch()
    board.update(11, SessionsReport(sessions=[_sample("session-1")]))
    assert len(board.sessions()) == 1
    await asyncio.sleep(0.1)
    board.touch()  # polled again within the linger: still watched
    await asyncio.sleep(0.15)
    assert board.watching
    assert watches == [0.5]
    await asyncio.sleep(0.2)  # no poll for longer than the linger
    assert not board.watching
    assert watches == [0.5, 0.0]
    assert board.sessions() == []
    board.close()


def test_a_job_process_turns_inspection_on_without_loading_the_session_package() -> None:
    code = ("import sys\n"
            "from flowagents.ipc.inspect_report import enable_inspection\n"
            "enable_inspection()\n"
            "assert 'flowagents.session' not in sys.modules\n"
            "from flowagents.session.inspect import INSPECTOR\n"
            "assert INSPECTOR.enabled and not INSPECTOR._timing  # counts, times once watched\n")
    env = {k: v for k, v in os.environ.items() if k != "FLOWAGENTS_INSPECT"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


async def test_a_job_process_reports_its_sessions_only_while_watched(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWAGENTS_INSPECT", "")  # restored after the test
    enable_inspection()
    sent: list[Message] = []
    reporter = SessionReporter(sent.append, lambda: ("J1", "room-1"))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    script = Script().user_speech(start=t0 + 0.1, end=t0 + 0.4, transcript="hi")
    session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                           tts=FakeTTS(script), user_away_timeout=None)
    await session.start(agent=Agent(instructions="x"), io=SessionIO(
        audio_input=VirtualAudioInput(None, 0.02, start=t0),
        audio_output=RecordingAudioOutput()))
    try:
        await asyncio.sleep(0.2)
        assert sent == []  # nobody watches: nothing is sent, and nothing is timed
        watched = [w.stats for w in INSPECTOR.sessions() if w.session is session]
        assert [s.timing for s in watched] == [False]
        assert sum(c.values for c in watched[0].nodes.values()) > 0  # but values are counted
        assert sum(c.spent for c in watched[0].nodes.values()) == 0.0
        reporter.watch(0.1)
        assert watched[0].timing
        await asyncio.sleep(0.25)
        reports = [m for m in sent if isinstance(m, SessionsReport)]
        assert len(reports) >= 2
        mine = [[s for s in r.sessions if s.nodes] for r in reports]
        assert all(len(m) >= 1 for m in mine)
        first, later = mine[0][-1], mine[-1][-1]
        assert reports[0].job_id == "J1"
        assert reports[0].room == "room-1"
        assert first.graph_spec is not None  # the spec: cheap, and no renderer in the job
        assert graph_from_json(first.graph_spec).name == session.runtime.graph.name
        assert first.graph_dot is None
        assert later.id == first.id
        assert later.graph_spec is None  # the graph goes once
        assert sum(n.values for n in later.nodes.values()) > sum(
            n.values for n in first.nodes.values()) > 0  # audio frames flowed meanwhile
        assert later.nodes["vad"].last.startswith("VADEvent(")
        reporter.watch(0.0)
        count = len(sent)
        await asyncio.sleep(0.25)
        assert len(sent) == count  # no longer watched: quiet
        reporter.watch(0.1)  # watched again: the graph goes again
        await asyncio.sleep(0.05)
        again = [s for s in sent[-1].sessions if s.id == first.id]  # type: ignore[union-attr]
        assert again[0].graph_spec is not None
    finally:
        await session.aclose()
        INSPECTOR.time_nodes(True)  # as the rest of this test process had it
    await asyncio.sleep(0.15)
    last = sent[-1]
    assert isinstance(last, SessionsReport)
    assert first.id not in {s.id for s in last.sessions}  # a closed session is not reported
    await reporter.aclose()
    assert not reporter.watching


async def _sessions(port: int) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/inspect/sessions.json") as resp:
        assert resp.status == 200
        rows: list[dict[str, Any]] = await resp.json()
        return rows


async def _until_sessions(port: int, pred: Any, within: float = 15.0) -> list[dict[str, Any]]:
    """Poll the page's data (as the page does, so the job keeps reporting) until ``pred``."""
    async with asyncio.timeout(within):
        while True:
            rows = await _sessions(port)
            if pred(rows):
                return rows
            await asyncio.sleep(0.2)


async def test_a_worker_shows_its_job_sessions_until_they_end_or_the_process_dies(
        server: FakeLiveKitServer, make_worker: Any) -> None:
    worker = await make_worker(entrypoint_fnc=converse, prewarm_fnc=None, serve_http=True)
    port = worker.health_port
    meta = json.dumps({"sessions": 2, "close_first_after": 4.0, "turns": 10})
    await server.dispatch(server.make_job("J1", room="room-a", metadata=meta))
    await server.job_status("J1", agent.JS_RUNNING, within=10)
    pid = worker.jobs["J1"].proc.pid
    rows = await _until_sessions(port, lambda r: len(r) == 2)
    assert {(r["pid"], r["job_id"], r["room"]) for r in rows} == {(pid, "J1", "room-a")}
    assert [r["id"] for r in rows] == [f"{pid}-session-1", f"{pid}-session-2"]
    assert {"vad", "gate", "stt", "endpointing", "playout"} <= set(rows[0]["nodes"])
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/inspect/sessions/{rows[1]['id']}/graph.svg") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/svg+xml"
        assert "endpointing" in await resp.text()
    # the first session closes after 4 s: it leaves the page, the second one stays
    rows = await _until_sessions(port, lambda r: len(r) == 1)
    assert rows[0]["id"] == f"{pid}-session-2"
    values = rows[0]["nodes"]["vad"]["values"]
    rows = await _until_sessions(port, lambda r: r and r[0]["nodes"]["vad"]["values"] > values)
    os.kill(pid, signal.SIGKILL)  # the process dies: its sessions go with it
    error = await server.job_status("J1", agent.JS_FAILED, within=10)
    assert "exited unexpectedly" in error
    assert await _sessions(port) == []
