"""Benchmark: many idle voice sessions in one process on one core (a script, not a test).

``--sessions`` sessions (300 by default) run on one asyncio loop, the process pinned to one CPU.
Each reads its own real-time input as a room does: every 20 ms, on absolute deadlines and with
its own phase, an ``rtc.AudioFrame`` of silence arrives and is converted as
``flowagents.job.room_io.RoomAudioInput`` converts it (``AudioFrame.from_rtc``, stamped with the
loop's clock), then the session pushes it into its graph. Nobody speaks (the testing kit's fake
VAD, STT, LLM and TTS stand for the providers). Reported:

* frame lateness: how long after its deadline each frame reached its session, p50 / p99 / max
  over every frame of the measured window (goal: p99 <= 20 ms at 300 sessions);
* objects per session: the garbage-collected objects one session adds, counted after a full
  collection (``len(gc.get_objects())`` before and after building them all, divided);
* the longest garbage-collection pause (``gc.callbacks``), and the collections by generation;
* CPU: the share of the core the process used.

``--freeze`` moves everything alive after the sessions are built into the permanent generation
(``gc.freeze()``), so later collections do not traverse the sessions' long-lived objects.

    python bench/bench_idle_sessions.py [--sessions 300] [--seconds 20] [--freeze] [--cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from livekit import rtc

from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, RecordingAudioOutput, Script
from flowagents.types import AudioFrame
from flowagents.voice import Agent
from flowagents.voice.io import AudioInput, SessionIO

FRAME = 0.02
RATE = 16000


class RoomLikeInput(AudioInput):
    """A room's microphone track, as ``RoomAudioInput`` reads one: ``rtc.AudioFrame`` values on
    the track's schedule, converted with ``AudioFrame.from_rtc`` at arrival."""

    def __init__(self, start: float, lateness: list[float]) -> None:
        self.start = start
        self.lateness = lateness
        self.samples = np.zeros(int(RATE * FRAME), dtype=np.int16)
        self.closed = False

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        due = self.start
        n = len(self.samples)
        while not self.closed:
            await asyncio.sleep(due - loop.time())
            now = loop.time()
            self.lateness.append(now - due)
            frame = rtc.AudioFrame(self.samples.tobytes(), RATE, 1, n)
            yield AudioFrame.from_rtc(frame, timestamp=now)
            due += FRAME

    async def aclose(self) -> None:
        self.closed = True


class GCWatch:
    """Times every garbage collection (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))


async def run(sessions: int, seconds: float, freeze: bool) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gc.collect()
    before = len(gc.get_objects())
    lateness: list[float] = []
    t0 = loop.time() + 1.0 + 0.01 * sessions  # every session has started by then
    inputs = [RoomLikeInput(t0 + i * FRAME / sessions, lateness) for i in range(sessions)]
    running = []
    script = Script()
    for mic in inputs:
        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script))
        await session.start(agent=Agent(instructions="idle"),
                            io=SessionIO(audio_input=mic, audio_output=RecordingAudioOutput()))
        running.append(session)
    gc.collect()
    per_session = (len(gc.get_objects()) - before) / sessions
    if freeze:
        gc.freeze()
    watch = GCWatch()
    gc.callbacks.append(watch)
    await asyncio.sleep(t0 + 2.0 - loop.time())  # settle
    lateness.clear()
    watch.pauses.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    late = sorted(lateness)
    pauses = list(watch.pauses)
    gc.callbacks.remove(watch)
    for session in running:
        await session.aclose()
    if freeze:
        gc.unfreeze()

    def q(p: float) -> float:
        return late[min(len(late) - 1, round(p * (len(late) - 1)))]

    return {
        "sessions": sessions, "seconds": seconds, "freeze": freeze, "frames": len(late),
        "late_p50_ms": q(0.5) * 1e3, "late_p99_ms": q(0.99) * 1e3, "late_max_ms": late[-1] * 1e3,
        "objects_per_session": per_session, "cpu_share": cpu / wall,
        "gc_longest_ms": max((d for _, d in pauses), default=0.0) * 1e3,
        "gc_counts": {g: sum(1 for gen, _ in pauses if gen == g) for g in (0, 1, 2)},
        "gc_gen2_longest_ms": max((d for g, d in pauses if g == 2), default=0.0) * 1e3,
        "gc_median_ms": statistics.median(d for _, d in pauses) * 1e3 if pauses else 0.0,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--freeze", action="store_true")
    ap.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    result = asyncio.run(run(args.sessions, args.seconds, args.freeze))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
