"""Benchmark: the CPU an idle session costs while it listens, with Silero VAD and with a fake VAD.

One :class:`AgentSession` hears silence in real time (``VirtualAudioInput``: 20 ms frames pushed
at their end times, as a microphone or a room track delivers them) for ``--seconds``; the CPU
the whole process used meanwhile (every thread: ``time.process_time``) over the wall time is
the session's share of one core; the share used by threads other than the loop's is counted
apart (``/proc/self/task``). The other providers are the testing kit's fakes (an idle session
never calls them). Configurations, one after another in each run so they share the machine's
state: the fake VAD (the framework alone), Silero VAD as configured by default at 16 kHz input
(a console or a 16 kHz track) and at 48 kHz (a LiveKit room's track, resampled before Silero),
and Silero at 16 kHz scoring idle windows one or three per wake (``idle_batch=1``, ``3``) for
comparison. The model's own inference is timed apart: ``SileroVADStream``'s model on 512-sample
windows back to back, as a share of the 32 ms each window covers. Figures: the median over
``--runs`` and the load average.

    flock /tmp/bench.lock python bench/bench_idle_ear.py [--runs 3] [--seconds 10] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flowagents.session import AgentSession  # noqa: E402
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script  # noqa: E402
from flowagents.testing.audio import VirtualAudioInput  # noqa: E402
from flowagents.voice import Agent, SessionIO  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_idle_ear:start -->", "<!-- bench_idle_ear:end -->"
GOAL = 0.02


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread of this process, by thread id (empty where /proc is missing)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ():
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[tid] = (int(fields[11]) + int(fields[12])) / tick
    return out


async def idle_share(vad: Any, rate: int, seconds: float) -> tuple[float, float]:
    """Fractions of one core the process uses while one session listens to silence: in all,
    and on threads other than the loop's."""
    from flowagents.testing.audio import RecordingAudioOutput

    script = Script()
    mic = VirtualAudioInput(None, frame_duration=0.02, sample_rate=rate)
    session = AgentSession(vad=vad if vad is not None else FakeVAD(script), stt=FakeSTT(script),
                           llm=FakeLLM(script), tts=FakeTTS(script), user_away_timeout=None)
    await session.start(agent=Agent(instructions="idle"),
                        io=SessionIO(audio_input=mic, audio_output=RecordingAudioOutput()))
    await asyncio.sleep(1.0)  # settle: the first frames, the resampler's set-up
    gc.collect()
    loop_thread = str(threading.get_native_id())
    threads0 = thread_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    others = sum(t - threads0.get(tid, 0.0) for tid, t in thread_cpu().items()
                 if tid != loop_thread)
    await mic.aclose()
    await session.aclose()
    return cpu / wall, others / wall


def inference_share(vad: Any, windows: int = 2000) -> float:
    """The model's own cost: its time per 512-sample window over the 32 ms the window covers."""
    stream = vad.stream()
    window = np.zeros(512, np.float32)
    view = memoryview(window.data)
    model = stream._model
    t = time.perf_counter()
    for _ in range(windows):
        model.process(view)
    return (time.perf_counter() - t) / windows / 0.032


def frame_share(vad: Any, rate: int, frames: int = 1500) -> float:
    """The VAD stream's own cost per 20 ms frame of faint noise at ``rate`` (resampling,
    buffering, the model, the detector), as a share of the 20 ms."""
    from flowagents.types import AudioFrame

    rng = np.random.default_rng(0)
    pcm = [AudioFrame((rng.standard_normal(rate // 50) * 30).astype(np.int16), rate)
           for _ in range(50)]
    stream = vad.stream()
    for f in pcm:
        stream.process(f)
    t = time.perf_counter()
    for i in range(frames):
        stream.process(pcm[i % 50])
    return (time.perf_counter() - t) / frames / 0.02


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from flowagents.plugins.silero import SileroVAD

    batch = SileroVAD.__init__.__kwdefaults__["idle_batch"]
    configs: dict[str, tuple[dict[str, int] | None, int]] = {
        "fake VAD, 48 kHz input": (None, 48000),
        f"Silero VAD (default: idle_batch={batch}), 16 kHz input": ({}, 16000),
        f"Silero VAD (default: idle_batch={batch}), 48 kHz input": ({}, 48000),
        "Silero VAD, idle_batch=3, 16 kHz input": ({"idle_batch": 3}, 16000),
        "Silero VAD, idle_batch=1 (no batching), 16 kHz input": ({"idle_batch": 1}, 16000)}
    shares: dict[str, list[float]] = {name: [] for name in configs}
    others: dict[str, list[float]] = {name: [] for name in configs}
    loads = []
    for run in range(args.runs):
        for name, (kwargs, rate) in configs.items():
            vad = SileroVAD(**kwargs) if kwargs is not None else None
            share, other = asyncio.run(idle_share(vad, rate, args.seconds))
            shares[name].append(share)
            others[name].append(other)
            loads.append(os.getloadavg()[0])
            print(f"run {run + 1}: {name}: {share:.2%} of a core ({other:.2%} off the loop's "
                  "thread)", flush=True)
    model = statistics.median(inference_share(SileroVAD()) for _ in range(3))
    per_frame = {r: statistics.median(frame_share(SileroVAD(), r) for _ in range(3))
                 for r in (16000, 48000)}
    def verdict(name: str, share: float) -> str:
        if "default" not in name:
            return ""
        return f"<= {GOAL:.0%} {'ok' if share <= GOAL else 'MISSED'}"

    rows = [f"| {name} | {statistics.median(v):.2%} | {statistics.median(others[name]):.2%} | "
            f"{verdict(name, statistics.median(v))} |" for name, v in shares.items()]
    block = "\n".join([
        f"Idle ear, {time.strftime('%Y-%m-%d', time.gmtime())} ({platform.node()}, "
        f"{os.cpu_count()} cores, load average {min(loads):.1f}-"
        f"{max(loads):.1f}; {args.runs} runs of {args.seconds:.0f} s each, median):", "",
        "| idle session listening to silence (20 ms frames) | CPU of one core | of which "
        "off the loop's thread | goal |",
        "|---|---|---|---|", *rows,
        f"| Silero's inference alone (per 32 ms window, back to back) | {model:.2%} | | |",
        *(f"| `SileroVADStream.process` alone, {r // 1000} kHz frames back to back | {v:.2%} "
          "| | |" for r, v in per_frame.items()), "",
        "Reproduce: `flock /tmp/bench.lock python bench/bench_idle_ear.py`."])
    print(block)
    if not args.no_write:
        text = DOCS.read_text()
        body = f"{START}\n{block}\n{END}"
        if START in text:
            text = text[:text.index(START)] + body + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + f"\n\n## Idle ear (bench_idle_ear)\n\n{body}\n"
        DOCS.write_text(text)


if __name__ == "__main__":
    main()
