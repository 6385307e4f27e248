"""The live graph view in a real browser: headless Chromium opens the page while a conversation
runs, and the per-node counters it shows move.

The conversation runs in real time on this loop (the page is served by the same loop), on the
testing kit's fakes, so the page sees values flow as they would in the console. Chromium is
Debian's package (``scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from browser import chromium, node_values
from reactivex import Subject

from flowagents.runtime.stats import GraphStats
from flowagents.session import AgentSession
from flowagents.session.inspect import Inspector
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
from flowagents.worker.inspect import InspectServer, sessions_json


def _script(t0: float) -> Script:
    s = Script()
    for i in range(6):
        start = t0 + 0.3 + i * 2.0
        s.user_speech(start=start, end=start + 0.6, transcript=f"question {i}", stt_delay=0.1)
    s.llm_reply(input=None, content="An answer.", ttft=0.05, duration=0.1)
    s.tts_audio(input="An answer.", audio_duration=0.5, ttfb=0.05, duration=0.1)
    return s


def test_counters_are_off_unless_inspection_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWAGENTS_INSPECT", raising=False)
    inspector = Inspector()

    class Session:  # what the inspector reads of a session: a weak reference to it
        _closed = False

    session = Session()
    assert inspector.watch(session) is None  # off: the wiring adds nothing
    assert inspector.sessions() == []
    inspector.enable()
    stats = inspector.watch(session)
    assert isinstance(stats, GraphStats)
    assert [w.stats for w in inspector.sessions()] == [stats]
    monkeypatch.setenv("FLOWAGENTS_INSPECT", "1")
    assert Inspector().enabled


async def test_the_page_shows_counters_that_move(tmp_path: Path) -> None:
    server = InspectServer(port=0)
    await server.start()  # turns inspection on for sessions started from now
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    script = _script(t0)
    session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                           tts=FakeTTS(script), min_silence_duration=0.2,
                           min_endpointing_delay=0.1, user_away_timeout=None)
    await session.start(agent=Agent(instructions="answer"), io=SessionIO(
        audio_input=VirtualAudioInput(None, 0.02, start=t0),
        audio_output=RecordingAudioOutput()))
    try:
        await asyncio.sleep(1.0)
        [watched] = [s for s in sessions_json() if s["agent_state"]]
        assert "vad" in watched["nodes"]
        first = node_values(await chromium("--dump-dom", server.url))
        await asyncio.sleep(2.5)
        shot = tmp_path / "inspect.png"
        await chromium(f"--screenshot={shot}", server.url)
        second = node_values(await chromium("--dump-dom", server.url))
    finally:
        await session.aclose()
        await server.aclose()
    # the page listed the voice graph's nodes, with counters that moved between the two looks
    assert {"vad", "gate", "stt", "endpointing", "playout"} <= set(first)
    assert second["vad"] > first["vad"] > 0
    assert second["playout"] > first["playout"]
    assert second["endpointing"] > first["endpointing"]
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len(png) > 20_000


def test_stats_time_each_node_on_its_own() -> None:
    """A node's time excludes the downstream work it triggers: the wiring nests the timers."""
    ticks = iter([0.0, 2.0, 5.0, 6.0, 9.0])  # created at 0.0; then the first value's timings
    stats = GraphStats(clock=lambda: next(ticks, 100.0))
    up_in: Subject[int] = Subject()
    down_in: Subject[int] = Subject()
    seen: list[int] = []
    stats.timed("down", down_in).subscribe(seen.append)
    stats.timed("up", up_in).subscribe(down_in.on_next)  # up's handling feeds down
    up_in.on_next(7)  # up starts at 2.0, down runs 5.0 -> 6.0, up ends at 9.0
    assert seen == [7]
    assert stats.nodes["down"].spent == pytest.approx(1.0)
    assert stats.nodes["up"].spent == pytest.approx(6.0)
    counted: list[int] = []
    stats.counted("up", up_in).subscribe(counted.append)
    up_in.on_next(8)
    snap = stats.snapshot()
    assert snap["up"]["values"] == 1
    assert snap["up"]["last"] == "8"


def test_the_console_serves_the_view_with_inspect() -> None:
    from typer.testing import CliRunner

    from flowagents.cli.main import app

    res = CliRunner().invoke(app, ["console", "--help"], terminal_width=200)
    assert res.exit_code == 0
    assert "--inspect" in res.output
