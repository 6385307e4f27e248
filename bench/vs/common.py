"""What both sides of the LiveKit comparison share (standard library only: it runs in both venvs).

The scripted conversations (plain tuples, turned into each framework's fakes by its side), the
frame format, the measurement helpers and the JSON line each side answers with. Times in a
script are offsets in seconds from ``t0``, a loop time the side picks.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

SAMPLE_RATE = 24000
FRAME = 0.02  # 20 ms frames at 24 kHz: 480 samples
FRAME_SAMPLES = round(SAMPLE_RATE * FRAME)

# turn latency: each user utterance, the VAD's min silence, one turn period (speech, silence,
# the one-frame reply and slack), as in bench/bench_voice.py
SPEECH = 0.2
SILENCE = 0.05
PERIOD = 0.5
LEAD = 0.5  # before the first turn

# idle: the seconds the sessions run before the CPU is measured: the first frames, the
# resamplers' set-up, and flowagents' Silero scoring its first 3 s of near-digital silence
# before its silence level skips any (so that the digital-silence row is its steady state)
IDLE_SETTLE = 4.0


@dataclass(frozen=True, slots=True)
class Turn:
    """The user says ``text`` from ``start`` to ``end``; the LLM answers ``reply`` after
    ``ttft`` (all of it at once at ``ttft``, done at ``llm_duration``); the TTS voices it as
    ``audio`` seconds, first audio ``ttfb`` after the call."""

    start: float
    end: float
    text: str
    reply: str
    stt_delay: float = 0.0
    ttft: float = 0.0
    llm_duration: float = 0.0
    ttfb: float = 0.0
    audio: float = FRAME


def turn_script(turns: int) -> list[Turn]:
    """The latency script: every provider answers at once, each reply is one 20 ms frame."""
    return [Turn(LEAD + i * PERIOD, LEAD + i * PERIOD + SPEECH, f"question number {i}",
                 f"Answer {i}.") for i in range(turns)]


def turn_of(t: float, t0: float) -> int:
    return int((t - t0 - LEAD) // PERIOD)


def scenario_script() -> list[Turn]:
    """The scenario both test harnesses run: four turns with realistic provider latencies."""
    lines = [
        ("Hi, can you hear me?", "Yes, I can hear you well. How can I help?"),
        ("What's the weather like in Paris?", "It is sunny in Paris, around twenty degrees."),
        ("And tomorrow?", "Tomorrow looks cloudy, with some rain in the evening."),
        ("Thanks, that's all.", "You're welcome, have a nice day!"),
    ]
    turns, t = [], 0.5
    for text, reply in lines:
        speech = 0.08 * len(text.split()) + 0.4
        audio = 0.06 * len(reply.split()) + 0.5
        turns.append(Turn(t, t + speech, text, reply, stt_delay=0.2, ttft=0.1,
                          llm_duration=0.3, ttfb=0.15, audio=audio))
        t += speech + 0.55 + 0.5 + audio + 0.6  # silence, endpointing, reply, a pause
    return turns


def endpointed_turns(turns: list[Turn]) -> list[tuple[float, float]]:
    """Each turn's end of user speech (the later of the VAD's end and the final transcript)."""
    return [(t.start, max(t.end + SILENCE, t.end + t.stt_delay)) for t in turns]


def read_background(path: str) -> bytes:
    """The idle input's background: mono int16 samples at :data:`SAMPLE_RATE`, native byte
    order, a whole number of frames (written by ``bench/vs_livekit.py``, played by both sides
    from their first frame on, again from the start when it ends)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data or len(data) % (2 * FRAME_SAMPLES):
        raise ValueError(f"{path}: {len(data)} bytes is not a whole number of "
                         f"{FRAME_SAMPLES}-sample int16 frames")
    return data


def digest(frames: list[bytes]) -> str:
    """SHA-256 of frames' samples, in order: each side answers with that of the first frames
    its input hands over, so the runner can check that both played the same samples."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(frame)
    return h.hexdigest()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb() -> float:
    """Resident set size of this process, in MiB (from /proc: no dependency)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def lateness_probe(seconds: float, period: float = FRAME) -> list[float]:
    """How late a timer on the frame grid fires on this loop, sampled for ``seconds``: what
    every input's frames see."""
    loop = asyncio.get_running_loop()
    late: list[float] = []
    start = loop.time()
    k = 1
    while loop.time() - start < seconds:
        fut: asyncio.Future[float] = loop.create_future()
        when = start + k * period
        loop.call_at(when, lambda f=fut, w=when: f.done() or f.set_result(loop.time() - w))
        late.append(await fut)
        k += 1
    return late


async def cpu_while(seconds: float) -> float:
    """Fraction of one core this process used while the loop ran for ``seconds``."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


async def capacity(add: Callable[[int], Awaitable[None]], *, start: int, limit: int,
                   seconds: float, growth: float = 1.3) -> dict[str, object]:
    """Add idle sessions in steps (``add(n)`` starts ``n`` more) until frames run late: the
    probe's median lateness reaches half a frame (the loop no longer keeps up; the median, not a
    tail, so that another process taking the core for a moment does not end the ramp), or the
    process uses 95 % of its core. Returns the last count that kept up and every step."""
    running, good, steps = 0, 0, []
    target = start
    while target <= limit:
        await add(target - running)
        running = target
        await asyncio.sleep(0.5)  # settle
        cpu_task = asyncio.ensure_future(cpu_while(seconds))
        late = await lateness_probe(seconds)
        cpu = await cpu_task
        p50, p99 = percentile(late, 0.5), percentile(late, 0.99)
        steps.append({"sessions": running, "cpu": cpu, "late_p50": p50, "late_p99": p99})
        if p50 >= FRAME / 2 or cpu >= 0.95:
            break
        good = running
        target = max(running + 1, round(running * growth))
    return {"sessions": good, "steps": steps, "limit_reached": good >= limit}


def answer(result: dict[str, object]) -> None:
    """The one line a side prints last: its result as JSON."""
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
