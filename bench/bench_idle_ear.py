"""Benchmark: the CPU an idle session costs while it listens, with Silero VAD and with a fake VAD.

One :class:`AgentSession` hears an idle microphone in real time (``VirtualAudioInput``: 20 ms
frames pushed at their end times, as a microphone or a room track delivers them) for
``--seconds``, after 4 s of settling; the CPU the whole process used meanwhile (every thread:
``time.process_time``) over the wall time is the session's share of one core; the share used by
threads other than the loop's is counted apart (``/proc/self/task``). The other providers are
the testing kit's fakes (an idle session never calls them). Configurations, one after another
in each run so they share the machine's state:

- the loop alone: the same input pushing its frames to a function that drops them, no session.
  Every configuration pays this: one wake of the asyncio loop per 20 ms frame;
- the fake VAD (the framework alone);
- Silero VAD as configured by default at 16 kHz input (a console) and at 48 kHz (a LiveKit
  room's track, resampled before Silero), hearing digital silence, and at 48 kHz hearing a
  faint hiss (-60 dBFS RMS: a quiet room through a microphone without noise suppression; the
  silence level skips none of it);
- Silero scoring every window (``silence_level=0``: before the level existed), in batches and
  one window per wake (``idle_batch=1``);
- ten fake-VAD sessions on one loop whose frames fall on the same deadlines, per session: what
  ``bench/vs_livekit.py`` measures (one wake serves ten sessions).

The model's own inference is timed apart: ``SileroVADStream``'s model on 512-sample windows back
to back, as a share of the 32 ms each window covers. Figures: the median over ``--runs`` and the
load average.

    flock /tmp/bench.lock python bench/bench_idle_ear.py [--runs 3] [--seconds 8] [--no-write]
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
HISS = 32768 * 10 ** (-60 / 20)  # -60 dBFS RMS, in 16-bit steps
SETTLE = 4.0


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


class Config:
    """One configuration: what listens (``vad``: None for the fake VAD, a dict of
    ``SileroVAD`` options, or "bare": no session, the input's frames dropped), at which input
    rate, to what, with how many sessions on the loop (their frames on the same deadlines)."""

    def __init__(self, vad: dict[str, int] | str | None, rate: int, hiss: bool = False,
                 sessions: int = 1) -> None:
        self.vad, self.rate, self.hiss, self.sessions = vad, rate, hiss, sessions

    def background(self) -> np.ndarray[Any, np.dtype[np.int16]] | None:
        """The input's background: :func:`hiss` at its rate, or None (digital silence)."""
        return hiss(self.rate) if self.hiss else None


def hiss(rate: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    """One second of seeded Gaussian hiss at -60 dBFS RMS (33 steps): a quiet room through a
    microphone without noise suppression. The same samples on every call (``bench/vs_livekit.py``
    plays them to both frameworks)."""
    rng = np.random.default_rng(1)
    return (rng.standard_normal(rate) * HISS).round().astype(np.int16)


async def idle_share(config: Config, seconds: float) -> tuple[float, float]:
    """Fractions of one core the process uses per session while its sessions listen: in all,
    and on threads other than the loop's."""
    from flowagents.plugins.silero import SileroVAD
    from flowagents.testing.audio import RecordingAudioOutput

    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    mics, sessions = [], []
    for _ in range(config.sessions):
        mic = VirtualAudioInput(None, frame_duration=0.02, sample_rate=config.rate, start=start,
                                background=config.background())
        mics.append(mic)
        if config.vad == "bare":
            mic.push_to(lambda frame: None, lambda error: None)
            continue
        script = Script()
        vad = FakeVAD(script) if config.vad is None else SileroVAD(**dict(config.vad))
        session = AgentSession(vad=vad, stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script), user_away_timeout=None)
        await session.start(agent=Agent(instructions="idle"),
                            io=SessionIO(audio_input=mic, audio_output=RecordingAudioOutput()))
        sessions.append(session)
    # settle: the first frames, the resampler's set-up, and (Silero) the three seconds of
    # quiet windows scored before the silence level skips any
    await asyncio.sleep(SETTLE)
    gc.collect()
    loop_thread = str(threading.get_native_id())
    threads0 = thread_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    others = sum(t - threads0.get(tid, 0.0) for tid, t in thread_cpu().items()
                 if tid != loop_thread)
    for mic in mics:
        await mic.aclose()
    for session in sessions:
        await session.aclose()
    return cpu / wall / config.sessions, others / wall / config.sessions


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
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from flowagents.plugins.silero import SileroVAD

    defaults = SileroVAD.__init__.__kwdefaults__
    silero = (f"Silero VAD (default: idle_batch={defaults['idle_batch']}, "
              f"silence_level={defaults['silence_level']})")
    configs: dict[str, Config] = {
        "the loop alone: a timer per frame, frames dropped (no session), 48 kHz":
            Config("bare", 48000),
        "fake VAD, 48 kHz input, digital silence": Config(None, 48000),
        f"{silero}, 16 kHz input, digital silence": Config({}, 16000),
        f"{silero}, 48 kHz input, digital silence": Config({}, 48000),
        f"{silero}, 48 kHz input, **hiss at -60 dBFS**": Config({}, 48000, hiss=True),
        "Silero VAD, silence_level=0 (every window scored), 48 kHz input, digital silence":
            Config({"silence_level": 0}, 48000),
        "Silero VAD, idle_batch=1, silence_level=0 (no batching, every window), 16 kHz input":
            Config({"idle_batch": 1, "silence_level": 0}, 16000),
        "fake VAD, 10 sessions on one loop, frames on the same deadlines (per session)":
            Config(None, 48000, sessions=10)}
    shares: dict[str, list[float]] = {name: [] for name in configs}
    others: dict[str, list[float]] = {name: [] for name in configs}
    loads = []
    for run in range(args.runs):
        for name, config in configs.items():
            share, other = asyncio.run(idle_share(config, args.seconds))
            shares[name].append(share)
            others[name].append(other)
            loads.append(os.getloadavg()[0])
            print(f"run {run + 1}: {name}: {share:.2%} of a core ({other:.2%} off the loop's "
                  "thread)", flush=True)
    model = statistics.median(inference_share(SileroVAD()) for _ in range(3))
    per_frame = {r: statistics.median(frame_share(SileroVAD(), r) for _ in range(3))
                 for r in (16000, 48000)}
    floor = statistics.median(next(iter(shares.values())))

    def verdict(name: str, share: float) -> str:
        if "default" not in name:
            return ""
        return f"<= {GOAL:.0%} {'ok' if share <= GOAL else 'MISSED'}"

    rows = []
    for i, (name, v) in enumerate(shares.items()):
        share = statistics.median(v)
        above = f"+{share - floor:.2%}" if i and configs[name].sessions == 1 else ""
        rows.append(f"| {name} | {share:.2%} | {above} | {statistics.median(others[name]):.2%} "
                    f"| {verdict(name, share)} |")
    block = "\n".join([
        f"Idle ear, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC ({platform.node()}, "
        f"{os.cpu_count()} cores, load average {min(loads):.1f}-"
        f"{max(loads):.1f}; {args.runs} runs of {args.seconds:.0f} s each, median):", "",
        "| idle session listening (20 ms frames) | CPU of one core | above the loop alone "
        "| of which off the loop's thread | goal |",
        "|---|---|---|---|---|", *rows,
        f"| Silero's inference alone (per 32 ms window, back to back) | {model:.2%} | | | |",
        *(f"| `SileroVADStream.process` alone, {r // 1000} kHz hiss frames back to back, "
          f"every window scored | {v:.2%} | | | |" for r, v in per_frame.items()), "",
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
