"""Benchmark: how many idle voice sessions one process holds on one core (a script, not a test).

Each session is a real ``AgentSession`` on the default voice graph with the testing kit's fake
providers (FakeVAD, FakeSTT, FakeLLM, FakeTTS; nobody speaks), reading its own room microphone
through the production path: ``flowagents.job.room_io.RoomAudioInput`` linked to a participant's
audio track, whose stream (the ``stream_factory`` seam, in production ``rtc.AudioStream``) yields
``rtc.AudioFrameEvent`` values holding a fresh ``rtc.AudioFrame`` every 20 ms, converted to our
``AudioFrame`` as in production. Each stream runs on its own real-time clock: session ``i`` of
``n`` delivers frame ``k`` at ``start + i/n * FRAME + (k + 1) * FRAME`` (independent rooms are
not in step), and records how late the loop let it deliver each frame (the loop's lag, which
includes every session's graph work and every garbage collection).

Figures: per-frame lateness (p50, p99, worst session's p99, max), the process's CPU over the
window, the GC-tracked objects each session adds (``gc.get_objects()`` delta per session, and the
same counting the objects ``gc.freeze()`` moved out of the collector's reach), and every
garbage collection during the window, timed with ``gc.callbacks`` (the longest pause, and how
many full collections). The process is pinned to one core (``os.sched_setaffinity``).

    flock /tmp/bench.lock python bench/bench_idle_sessions.py [--sessions 300] [--seconds 20]
        [--mode session|input] [--no-freeze] [--label NAME] [--save FILE] [--write]
    python bench/bench_idle_sessions.py --from-json FILE... [--write]

``--mode input`` runs the same room inputs read by a bare loop (no session): the floor.
``--no-freeze`` turns off the freeze each session holds (``flowagents.runtime.gc_freeze``).
``--write`` replaces the ``bench_idle_sessions`` section of docs/benchmarks.md (nothing outside
its markers), from this run or, with ``--from-json``, from saved runs (``--save``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livekit import rtc  # noqa: E402

from flowagents.job.room_io import RoomAudioInput  # noqa: E402
from flowagents.session import AgentSession  # noqa: E402
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script  # noqa: E402
from flowagents.types import AudioFrame  # noqa: E402
from flowagents.voice import Agent  # noqa: E402
from flowagents.voice.io import AudioOutput, SessionIO  # noqa: E402

try:  # absent from trees before the sessions froze their graphs (for side-by-side runs)
    from flowagents.runtime import gc_freeze
except ImportError:
    gc_freeze = None  # type: ignore[assignment]

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_idle_sessions:start -->", "<!-- bench_idle_sessions:end -->"
FRAME = 0.02  # seconds per room frame
RATE = 16000
WARMUP = 2.0  # seconds of frames excluded from every figure
LATE = 0.020  # the goal: p99 lateness <= one frame


class Clock:
    """The common start of every stream, set once every session is built."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.start = 0.0


class PacedRoomStream:
    """What ``rtc.AudioStream`` yields, on this stream's own real-time clock: an
    ``AudioFrameEvent`` with a new ``rtc.AudioFrame`` of silence (its own buffer, as the SDK
    copies each frame out of the FFI) due at ``start + phase + (k + 1) * FRAME``."""

    def __init__(self, clock: Clock, phase: float, seconds: float) -> None:
        self.clock, self.phase, self.seconds = clock, phase, seconds
        self.late: list[float] = []
        self.closed = False
        self._zeros = bytes(2 * round(RATE * FRAME))

    def __aiter__(self) -> AsyncIterator[rtc.AudioFrameEvent]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[rtc.AudioFrameEvent]:
        await self.clock.started.wait()
        loop = asyncio.get_running_loop()
        start = self.clock.start + self.phase
        samples = round(RATE * FRAME)
        for k in range(round(self.seconds / FRAME)):
            deadline = start + (k + 1) * FRAME
            await asyncio.sleep(deadline - loop.time())
            if (k + 1) * FRAME > WARMUP:
                self.late.append(loop.time() - deadline)
            yield rtc.AudioFrameEvent(rtc.AudioFrame(self._zeros, RATE, 1, samples))

    async def aclose(self) -> None:
        self.closed = True


class BenchRoom:
    """The part of ``rtc.Room`` that ``RoomAudioInput`` reads: one remote participant with one
    subscribed audio track."""

    def __init__(self, index: int) -> None:
        track = SimpleNamespace(kind=rtc.TrackKind.KIND_AUDIO, sid=f"TR_{index}")
        self.remote_participants = {"user": SimpleNamespace(
            identity="user", kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
            track_publications={track.sid: SimpleNamespace(track=track)})}

    def on(self, event: str, callback: Any) -> None:
        """Room events: none happen during the bench."""

    def off(self, event: str, callback: Any) -> None:
        """Nothing to remove."""


class NullOutput(AudioOutput):
    def capture(self, frame: AudioFrame) -> None:
        """Nobody speaks, so nothing is played."""


class GCTimer:
    """Every garbage collection, timed with ``gc.callbacks``: (generation, seconds)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._t0))


def tracked() -> tuple[int, int]:
    """GC-tracked objects: those the collector traverses, and those ``gc.freeze()`` set aside."""
    return len(gc.get_objects()), gc.get_freeze_count()


async def run(n: int, seconds: float, mode: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    clock = Clock()
    total = WARMUP + seconds
    streams = [PacedRoomStream(clock, i / n * FRAME, total + 1.0) for i in range(n)]
    script = Script()
    sessions: list[AgentSession] = []
    readers: list[asyncio.Task[None]] = []

    async def read(audio: RoomAudioInput) -> None:  # the floor: frames converted, then dropped
        stop = audio.push_to(lambda frame: None, lambda error: None)  # as the session reads it
        if stop is None:  # a tree before RoomAudioInput pushed
            async for _frame in audio:
                pass
            return
        try:
            await asyncio.Event().wait()
        finally:
            stop()

    gc.collect()
    objects0, frozen0 = tracked()
    build0 = time.perf_counter()
    for i, stream in enumerate(streams):
        audio = RoomAudioInput(BenchRoom(i), stream_factory=lambda t, r, c, s=stream: s)
        if mode == "input":
            readers.append(asyncio.create_task(read(audio)))
            continue
        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script), user_away_timeout=None)
        await session.start(agent=Agent(instructions="idle"),
                            io=SessionIO(audio_input=audio, audio_output=NullOutput()))
        sessions.append(session)
    build = time.perf_counter() - build0
    await asyncio.sleep(0.2)
    gc.collect()
    objects1, frozen1 = tracked()
    timer = GCTimer()
    clock.start = loop.time() + 0.5
    clock.started.set()
    await asyncio.sleep(clock.start + WARMUP - loop.time())
    gc.callbacks.append(timer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(clock.start + total - 0.05 - loop.time())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    gc.callbacks.remove(timer)
    t = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - t
    for session in sessions:
        await session.aclose()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)

    late = sorted(x for s in streams for x in s.late)
    per_stream = [sorted(s.late) for s in streams if s.late]
    pauses = sorted(p for _, p in timer.pauses)
    return {
        "mode": mode, "freeze": gc_freeze is not None and gc_freeze.enabled(),
        "sessions": n, "seconds": seconds, "frames": len(late),
        "p50_ms": 1e3 * _pct(late, 0.5), "p99_ms": 1e3 * _pct(late, 0.99),
        "worst_session_p99_ms": 1e3 * max(_pct(s, 0.99) for s in per_stream),
        "max_ms": 1e3 * late[-1], "late_pct": 100 * sum(x > LATE for x in late) / len(late),
        "cpu_pct": 100 * cpu / wall, "build_s": build,
        "objects_per_session": (objects1 - objects0) / n,
        "tracked_per_session": (objects1 + frozen1 - objects0 - frozen0) / n,
        "objects_traversed": objects1, "frozen": frozen1,
        "gc_count": [sum(g == gen for g, _ in timer.pauses) for gen in range(3)],
        "gc_longest_ms": 1e3 * (pauses[-1] if pauses else 0.0),
        "gc_full_longest_ms": 1e3 * max((p for g, p in timer.pauses if g == 2), default=0.0),
        "gc_total_ms": 1e3 * sum(pauses), "full_collect_ms": 1e3 * full,
        "load": os.getloadavg()[0], "cpu_pinned": sorted(os.sched_getaffinity(0)),
    }


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def report(results: list[dict[str, Any]], note: str = "") -> str:
    rows = []
    for r in results:
        ok = "ok" if r["p99_ms"] <= LATE * 1e3 else "MISSED"
        who = "sessions" if r["mode"] == "session" else "bare room inputs"
        frozen = "frozen" if r["freeze"] else "not frozen"
        rows.append(
            f"| {r['label']} | {r['sessions']} {who} | "
            f"{frozen if r['mode'] == 'session' else ''} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} ({ok}) | "
            f"{r['worst_session_p99_ms']:.2f} | {r['max_ms']:.1f} | {r['late_pct']:.3f} | "
            f"{r['cpu_pct']:.0f} | {r['tracked_per_session']:.0f} | "
            f"{r['objects_traversed']} | {r['gc_longest_ms']:.1f} | "
            f"{'/'.join(str(c) for c in r['gc_count'])} | {r['full_collect_ms']:.1f} | "
            f"{r['load']:.1f} |")
    r0 = results[0]
    return "\n".join([
        "## Idle voice sessions in one process (`bench/bench_idle_sessions.py`)",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores "
        f"shared with other work; the process pinned to core {r0['cpu_pinned']}. "
        "Goal (issue 9): 300 idle sessions, p99 frame lateness <= 20 ms.",
        "",
        "| tree | what runs | gc.freeze | p50 (ms) | p99 (ms) | worst session p99 (ms) | max (ms) "
        "| frames > 20 ms (%) | CPU of the core (%) | GC-tracked objects per session "
        "| objects a full collection traverses | longest GC pause (ms) | collections gen0/1/2 "
        "| a forced full collection (ms) | load 1m |",
        "|---" * 15 + "|",
        *rows,
        "",
        "Method: each session is an `AgentSession` on the default voice graph with the testing "
        "kit's fakes (FakeVAD, FakeSTT, FakeLLM, FakeTTS; silence, nobody speaks; "
        "`user_away_timeout=None`), reading its own `RoomAudioInput` whose stream yields a new "
        "`rtc.AudioFrameEvent(rtc.AudioFrame)` of 20 ms at 16 kHz on its own real-time clock "
        "(session i of n shifted by i/n of a frame), converted with `AudioFrame.from_rtc` as in "
        "production (the bench's fake room and stream count among each session's objects). "
        "Lateness is, per frame, delivery minus deadline (the loop's lag); the first "
        f"{WARMUP:g} s are excluded; the window lasts {r0['seconds']:g} s. CPU is the process's "
        "time over the window. Objects per session: GC-tracked objects (`gc.get_objects()` "
        "plus `gc.get_freeze_count()`, the objects `gc.freeze()` set aside) after minus before "
        "building the sessions, after a full collection, divided by their number; the next "
        "column counts the objects a full collection still visits (`gc.get_objects()`, all of "
        "the process). GC pauses: every collection in the window timed "
        "with `gc.callbacks`; the forced full collection (`gc.collect()` after the window) is "
        "what a full collection costs with that many objects in reach.",
        "",
        "Commands, in this order, each under `flock /tmp/bench.lock`:",
        "",
        *(f"- {r['label']}: `{r['command']}`" for r in results),
        *(["", note] if note else []),
    ])


def write_section(text: str, docs: Path = DOCS) -> None:
    doc = docs.read_text() if docs.exists() else "# Benchmarks\n"
    if START in doc and END in doc:
        head, rest = doc.split(START, 1)
        tail = rest.split(END, 1)[1]
        doc = f"{head}{START}\n{text}\n{END}{tail}"
    else:
        doc = doc.rstrip("\n") + f"\n\n{START}\n{text}\n{END}\n"
    docs.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="300", help="comma-separated session counts")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--mode", choices=["session", "input"], default="session")
    ap.add_argument("--no-freeze", action="store_true",
                    help="sessions do not freeze their graphs (flowagents.runtime.gc_freeze)")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="the core to pin the process to")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--docs", type=Path, default=DOCS, help="the file --write rewrites")
    ap.add_argument("--save", help="append each result as a JSON line to this file")
    ap.add_argument("--note", help="a paragraph to add below the table (what the run shows)")
    ap.add_argument("--label", help="the tree's name in the table (default: its commit)")
    ap.add_argument("--from-json", nargs="+", metavar="FILE",
                    help="render (and with --write, write) saved results, in file order")
    args = ap.parse_args()
    if args.from_json:
        saved = [json.loads(line) for path in args.from_json
                 for line in Path(path).read_text().splitlines() if line.strip()]
        text = report(saved, args.note or "")
        print(text)
        if args.write:
            write_section(text, args.docs)
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    os.sched_setaffinity(0, {args.cpu})
    if gc_freeze is not None:
        gc_freeze.set_enabled(not args.no_freeze)
    results = []
    for n in (int(x) for x in args.sessions.split(",")):
        result = asyncio.run(run(n, args.seconds, args.mode))
        result["label"] = args.label or commit
        result["command"] = shlex.join(["python", "bench/bench_idle_sessions.py",
                                        *sys.argv[1:]])
        print(json.dumps(result), flush=True)
        results.append(result)
        if args.save:
            with open(args.save, "a") as f:
                f.write(json.dumps(result) + "\n")
    text = report(results, args.note or "")
    print(text)
    if args.write:
        write_section(text, args.docs)


if __name__ == "__main__":
    main()
