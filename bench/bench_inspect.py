"""Benchmark: what the live graph view costs a job process (a script, not a test).

A worker that serves ``/inspect`` has its job processes count every node's values all along,
time the nodes' work while the page is watched, and, while watched, build one report a second.
This measures each, side by side in the same run:

* the CPU of a voice session's graph over a scripted 60 s conversation (10 ms frames, the testing
  kit's fakes, virtual time: only the graph's work is timed), with inspection off, counting
  only (nobody watches), and counting and timing (watched), interleaved round by round; the
  medians and their ratios to "off";
* one report of a running session (states, per-node counters and their last values as short
  safe texts, serialised as the IPC message): the first, which carries the graph's spec, and
  the later ones (median and p99), with their sizes.

    flock /tmp/bench.lock python bench/bench_inspect.py [--rounds 7] [--seconds 60] [--write]

``--write`` replaces the ``bench_inspect`` section of docs/benchmarks.md (nothing outside its
markers; a new section goes before the appendix).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowagents.ipc.inspect_report import SessionReporter  # noqa: E402
from flowagents.ipc.messages import MESSAGE_ADAPTER  # noqa: E402
from flowagents.runtime import run_virtual  # noqa: E402
from flowagents.session import AgentSession  # noqa: E402
from flowagents.session.inspect import INSPECTOR  # noqa: E402
from flowagents.testing import (  # noqa: E402
    FakeLLM,
    FakeSTT,
    FakeTTS,
    FakeVAD,
    RecordingAudioOutput,
    Script,
    VirtualAudioInput,
    simulate,
)
from flowagents.voice import Agent, SessionIO  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_inspect:start -->", "<!-- bench_inspect:end -->"
MODES = ("off", "counting", "counting and timing")


def conversation(seconds: float, t0: float = 0.0) -> Script:
    """A question every 3 s, each answered in 1.2 s of audio."""
    s = Script()
    for i in range(int(seconds // 3)):
        start = t0 + 0.5 + i * 3.0
        s.user_speech(start=start, end=start + 1.0, transcript=f"question {i}", stt_delay=0.1)
    s.llm_reply(input=None, content="An answer of a few words.", ttft=0.1, duration=0.3)
    s.tts_audio(input="An answer of a few words.", audio_duration=1.2, ttfb=0.1, duration=0.3)
    return s


def graph_cpu(mode: str, seconds: float) -> float:
    """CPU seconds of one simulated conversation with inspection in ``mode``."""
    INSPECTOR._enabled = mode != "off"
    INSPECTOR.time_nodes(mode == "counting and timing")
    started = time.process_time()
    run_virtual(simulate(conversation(seconds), agent=Agent(instructions="x"),
                         duration=seconds + 2.0, record=False))
    return time.process_time() - started


async def _reports(count: int) -> dict[str, Any]:
    INSPECTOR._enabled = True
    INSPECTOR.time_nodes(True)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    script = conversation(6.0, t0)
    session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                           tts=FakeTTS(script), user_away_timeout=None)
    await session.start(agent=Agent(instructions="x"), io=SessionIO(
        audio_input=VirtualAudioInput(None, 0.02, start=t0),
        audio_output=RecordingAudioOutput()))
    reporter = SessionReporter(lambda _msg: None, lambda: ("J1", "room"))
    try:
        await asyncio.sleep(4.0)  # real time: two turns have gone through the graph
        started = time.perf_counter()
        first = MESSAGE_ADAPTER.dump_json(reporter.report())
        first_s = time.perf_counter() - started
        times, body = [], b""
        for _ in range(count):
            started = time.perf_counter()
            body = MESSAGE_ADAPTER.dump_json(reporter.report())
            times.append(time.perf_counter() - started)
    finally:
        await session.aclose()
    times.sort()
    return {"first_ms": first_s * 1e3, "first_bytes": len(first),
            "median_ms": statistics.median(times) * 1e3,
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3,
            "bytes": len(body)}


def report(cpu: dict[str, list[float]], rep: dict[str, Any], seconds: float,
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    off = statistics.median(cpu["off"])
    rows = [f"| {m} | {statistics.median(cpu[m]) * 1e3:.0f} ms | "
            f"{statistics.median(cpu[m]) / off:.3f} |" for m in MODES]
    rounds = len(cpu["off"])
    return "\n".join([
        f"{datetime.date.today()}, {platform.node() or 'this machine'}, {os.cpu_count()} "
        f"cores; load average {load[0][0]:.2f} before, {load[1][0]:.2f} after; {rounds} "
        f"rounds, interleaved.",
        "",
        f"A voice session's graph over a scripted {seconds:.0f} s conversation (10 ms frames, "
        "fakes, virtual time), CPU per conversation (median):",
        "",
        "| inspection | graph CPU | / off |",
        "|---|---|---|",
        *rows,
        "",
        "A job process's report while the page is watched (one a second): the first carries "
        f"the graph's spec, {rep['first_ms']:.1f} ms and {rep['first_bytes']} bytes; each "
        "later one "
        f"{rep['median_ms']:.2f} ms median, {rep['p99_ms']:.2f} ms p99, {rep['bytes']} bytes.",
        "",
        "Reproduce: `flock /tmp/bench.lock python bench/bench_inspect.py --write`.",
    ])


def write_section(text: str, docs: Path = DOCS) -> None:
    """Replace the text between this script's markers (or add the section before the appendix)."""
    doc = docs.read_text()
    block = f"{START}\n{text.rstrip()}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _m: block, doc)
    else:
        section = f"## The live graph view's cost (`bench/bench_inspect.py`)\n\n{block}\n\n"
        at = doc.find("## Appendix")
        doc = doc[:at] + section + doc[at:] if at >= 0 else f"{doc.rstrip()}\n\n{section}"
    docs.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--write", action="store_true", help="rewrite the docs section")
    parser.add_argument("--docs", type=Path, default=DOCS)
    args = parser.parse_args()
    before = os.getloadavg()
    graph_cpu("off", min(args.seconds, 10.0))  # warm up
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            cpu[mode].append(graph_cpu(mode, args.seconds))
    rep = asyncio.run(_reports(args.reports))
    text = report(cpu, rep, args.seconds, (before, os.getloadavg()))
    print(text)
    if args.write:
        write_section(text, args.docs)


if __name__ == "__main__":
    main()
