"""Benchmark of the worker (a script, not a test): launch latency, idle RSS, concurrent jobs.

Runs a real worker against the fake LiveKit server of ``tests/worker`` (real protocol over a local
WebSocket) and measures:

1. assignment -> entrypoint start with a pre-warmed process (p50/p99 over ``--jobs`` jobs), as the
   wall-clock time between the server sending the assignment and the entrypoint's first line;
2. RSS of an idle pre-warmed process (psutil);
3. concurrent jobs, each running an ``AgentSession`` on the default voice graph with the testing
   kit's fake providers and a scripted user, in real time, on a microphone that yields 20 ms
   frames on absolute deadlines; the lateness of each frame (delivery minus deadline) is the job
   loop's lag. Doubling the job count until the median (over ``--repeats`` runs) of the worst
   job's p99 lateness exceeds one frame (20 ms).

Usage: ``python bench/bench_worker.py [--jobs 50] [--repeats 3] [--seconds 8] [--max-jobs 32]
[--write]``; ``--write`` updates our section of docs/benchmarks.md (nothing outside the markers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "worker"), str(ROOT / "bench")]

from collections.abc import AsyncIterator  # noqa: E402

import numpy as np  # noqa: E402
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer  # noqa: E402
from livekit.protocol import agent  # noqa: E402

from flowagents.job import JobContext, JobProcess  # noqa: E402
from flowagents.types import AudioFrame  # noqa: E402
from flowagents.voice.io import AudioInput, AudioOutput  # noqa: E402
from flowagents.worker import Worker, WorkerOptions  # noqa: E402

START, END = "<!-- bench_worker:start -->", "<!-- bench_worker:end -->"


FRAME = 0.02  # seconds per microphone frame
WARMUP = 0.5  # seconds of frames excluded from the lateness figures


def bench_prewarm(proc: JobProcess) -> None:
    """Import the voice stack once per process (what a real agent's prewarm would do)."""
    import flowagents.testing  # noqa: F401
    import flowagents.voice  # noqa: F401
    import graphs.voice  # noqa: F401


class PacedMic(AudioInput):
    """Silent 20 ms frames, frame k delivered at ``start + (k + 1) * FRAME`` (absolute deadlines).

    ``late`` collects, per frame after the warm-up, how long after its deadline the loop got
    round to delivering it: the job's event-loop lag, which includes all the graph's work.
    """

    def __init__(self, start: float, seconds: float) -> None:
        self.start, self.seconds = start, seconds
        self.late: list[float] = []
        self._zeros = np.zeros(round(16000 * FRAME), dtype=np.int16)

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        for k in range(round(self.seconds / FRAME)):
            deadline = self.start + (k + 1) * FRAME
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if (k + 1) * FRAME > WARMUP:
                self.late.append(loop.time() - deadline)
            yield AudioFrame(self._zeros, 16000, 1, self.start + k * FRAME)


class NullOutput(AudioOutput):
    def __init__(self) -> None:
        self.frames = 0

    def capture(self, frame: AudioFrame) -> None:
        self.frames += 1


async def bench_entry(ctx: JobContext) -> None:
    """Write the entrypoint start time, or run a voice session on a paced microphone."""
    t0 = time.time()
    script = json.loads(ctx.job.metadata)
    if script["mode"] == "latency":
        Path(script["out"]).write_text(str(t0))  # noqa: ASYNC240 - tiny write, measured path
        return
    from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script
    from flowagents.voice import Agent, AgentSession, SessionIO

    loop = asyncio.get_running_loop()
    start = loop.time() + (script["start_at"] - time.time())  # all jobs start together
    seconds = script["seconds"]
    conv = Script()
    k = 0
    while 1.0 + 3.0 * k + 1.0 < seconds:  # the user speaks 1 s every 3 s; the agent answers 1 s
        said, answer = f"question {k}", f"answer {k}"
        conv = (conv.user_speech(start=start + 1.0 + 3.0 * k, end=start + 2.0 + 3.0 * k,
                                 transcript=said)
                .llm_reply(input=said, content=answer).tts_audio(input=answer,
                                                                 audio_duration=1.0))
        k += 1
    mic, out = PacedMic(start, seconds), NullOutput()
    session = AgentSession(vad=FakeVAD(conv), stt=FakeSTT(conv), llm=FakeLLM(conv),
                           tts=FakeTTS(conv))
    await asyncio.sleep(max(0.0, start - loop.time() - 0.2))
    await session.start(Agent(instructions="Be brief."),
                        io=SessionIO(audio_input=mic, audio_output=out))
    await asyncio.sleep(max(0.0, start + seconds + 0.2 - loop.time()))
    replies = sum(1 for i in session.history.items
                  if i.type == "message" and i.role == "assistant")
    await session.aclose()
    late = sorted(mic.late)
    Path(script["out"]).write_text(json.dumps(  # noqa: ASYNC240 - after the measurement
        {"p50": late[len(late) // 2], "p99": late[int(len(late) * 0.99)], "turns": k,
         "replies": replies, "out_frames": out.frames}))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


LATE = 0.020  # a frame delivered more than one frame period after its deadline is late


async def run(jobs: int, *, repeats: int, seconds: float, max_jobs: int) -> dict[str, object]:
    server = FakeLiveKitServer()
    await server.start()
    tmp = Path(tempfile.mkdtemp())
    load_before = os.getloadavg()
    opts = WorkerOptions(entrypoint_fnc=bench_entry, prewarm_fnc=bench_prewarm,
                         ws_url=server.url, api_key=API_KEY,
                         api_secret=API_SECRET, num_idle_processes=2, load_fnc=lambda: 0.0,
                         port=0, job_memory_warn_mb=0)
    worker = Worker(opts, serve_http=False)
    task = asyncio.create_task(worker.run())
    await worker.wait_registered()
    async with asyncio.timeout(30):  # let the pool warm
        while worker.pool.idle_count < 2:  # noqa: ASYNC110 - pool state has no event
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    idle = [p for p in worker.pool.processes if not p.running_job and p.pid]
    rss_mb = statistics.mean(psutil.Process(p.pid).memory_info().rss for p in idle) / 2**20
    latencies = []
    for i in range(jobs):
        out = tmp / f"lat{i}"
        job = server.make_job(f"L{i}", metadata=json.dumps({"mode": "latency", "out": str(out)}))
        assert (await server.offer(job)).available
        while worker.pool.idle_count == 0:  # noqa: ASYNC110 - measure the pre-warmed path only
            await asyncio.sleep(0.01)
        t_assign = time.time()
        await server.assign(job)
        await server.job_status(job.id, agent.JS_SUCCESS, within=10)
        latencies.append(float(out.read_text()) - t_assign)
    concurrency = []
    n = 1
    while n <= max_jobs:
        runs = []
        for r in range(repeats):
            outs = []
            start_at = time.time() + 3.0 + 0.5 * n  # every job prepared before the first frame
            for i in range(n):
                out = tmp / f"c{n}_{r}_{i}"
                outs.append(out)
                await server.dispatch(server.make_job(f"C{n}_{r}_{i}", metadata=json.dumps(
                    {"mode": "voice", "out": str(out), "seconds": seconds,
                     "start_at": start_at})))
            for i in range(n):
                await server.job_status(f"C{n}_{r}_{i}", agent.JS_SUCCESS, within=120)
            stats = [json.loads(o.read_text()) for o in outs]
            runs.append({"worst_p99": max(s["p99"] for s in stats),
                         "median_p50": statistics.median(s["p50"] for s in stats),
                         "replies": sum(s["replies"] for s in stats),
                         "turns": sum(s["turns"] for s in stats),
                         "load": os.getloadavg()[0]})
        p99 = statistics.median(r["worst_p99"] for r in runs)
        concurrency.append({
            "jobs": n, "median_worst_p99_ms": round(p99 * 1000, 2),
            "median_p50_ms": round(statistics.median(r["median_p50"] for r in runs) * 1000, 2),
            "runs_p99_ms": [round(r["worst_p99"] * 1000, 1) for r in runs],
            "replies": f"{sum(r['replies'] for r in runs)}/{sum(r['turns'] for r in runs)}",
            "load_1m": [round(r["load"], 2) for r in runs]})
        print(concurrency[-1], flush=True)
        if p99 > LATE:
            break
        n *= 2
    await worker.aclose()
    await task
    await server.aclose()
    held = [c["jobs"] for c in concurrency
            if float(c["median_worst_p99_ms"]) <= LATE * 1000]  # type: ignore[arg-type]
    return {"launch_p50_ms": round(pct(latencies, 0.5) * 1000, 1),
            "launch_p99_ms": round(pct(latencies, 0.99) * 1000, 1),
            "jobs": jobs, "idle_rss_mb": round(rss_mb, 1), "concurrency": concurrency,
            "max_jobs_on_time": max(held) if held else 0, "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_1m": round(os.getloadavg()[0], 2), "repeats": repeats, "seconds": seconds}


def write(results: dict[str, object]) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    rows = "\n".join(
        f"| {c['jobs']} | {c['median_p50_ms']} | {c['median_worst_p99_ms']} | "
        f"{', '.join(str(x) for x in c['runs_p99_ms'])} | {c['replies']} | "
        f"{', '.join(str(x) for x in c['load_1m'])} |"
        for c in results["concurrency"])  # type: ignore[attr-defined]
    late_ms = round(LATE * 1000)
    body = f"""{START}
## Worker (`python bench/bench_worker.py --write`)

Real worker, fake LiveKit server over a local WebSocket, forkserver job processes,
{results['cpus']} CPUs. The machine is shared with other engineers' test runs: 1/5/15-minute load
average before the run {results['loadavg_before']}, 1-minute at the end {results['loadavg_1m']}
(per step below). Figures are a floor, not the machine's capacity.

- Assignment -> entrypoint start, pre-warmed process, {results['jobs']} jobs:
  **p50 {results['launch_p50_ms']} ms, p99 {results['launch_p99_ms']} ms** (goal p50 <= 50 ms).
- RSS of an idle pre-warmed process (voice stack imported by prewarm):
  **{results['idle_rss_mb']} MB**.
- Concurrent jobs, each running a real `AgentSession` on the default voice graph with the testing
  kit's fakes (FakeVAD/FakeSTT/FakeLLM/FakeTTS) and a scripted user who speaks 1 s every 3 s and
  gets a 1 s spoken answer, in real time, for {results['seconds']} s. The microphone yields 20 ms
  frames on absolute deadlines; **lateness** is, per frame, the time between its deadline and the
  moment the job's event loop delivered it (the loop lag, which includes all the graph's work),
  first {WARMUP} s excluded. All jobs of a step start together after they are set up. Each step
  runs {results['repeats']} times; per run we take the worst job's p99, and report the median
  over runs (each run's value listed). A frame is late when it comes more than one frame
  ({late_ms} ms) after its deadline.

| jobs | p50 lateness (ms) | worst-job p99, median (ms) | per run (ms) | replies | load 1m |
|---|---|---|---|---|---|
{rows}

  Jobs held with the median worst-job p99 <= {late_ms} ms: **{results['max_jobs_on_time']}**
  (doubling search; it stops at the first step that ran late). Caveat: a step whose p50 stays
  near 1 ms while p99 reaches seconds is a stall of one job, not a saturated loop: jobs beyond
  the 2 pre-warmed processes start on demand and import the voice stack while the others run,
  and a job not set up by the common start has its first frames counted late. So the capacity
  is "at least 2" on this loaded machine; more pre-warmed processes and a longer lead time are
  needed before the 4+ figures mean saturation.
{END}"""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + body + after
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--max-jobs", type=int, default=32)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--from-json", help="write the docs from a saved results file")
    args = parser.parse_args()
    if args.from_json:
        write(json.loads(Path(args.from_json).read_text()))
        return
    results = asyncio.run(run(args.jobs, repeats=args.repeats, seconds=args.seconds,
                              max_jobs=args.max_jobs))
    print(json.dumps(results, indent=2))
    if args.write:
        write(results)


if __name__ == "__main__":
    main()
