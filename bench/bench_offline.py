"""Benchmark of the offline providers: cold start, per-stage latency, peak memory.

Cold start is measured in fresh processes (a model loaded twice in one process is warm): each run
loads the four models one after another (load time of each) and, in another process, all four in
parallel as ``local_providers()`` does (what a user waits for). Per-stage latency is measured in
this process on speech Piper synthesizes: Silero per 32 ms window, Whisper on a ~2 s utterance,
SmolLM2 time to first token and tokens per second, Piper time to first audio for a short
sentence. Figures are medians over ``--runs``; peak RSS is the largest resident set of a process
holding all four models after one call of each. Results go to ``docs/benchmarks.md`` between the
``bench_offline`` markers (keeping the session latency block of ``bench_offline_session.py``).

    python bench/bench_offline.py [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from flowagents.plugins.local import LocalProviders

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flowagents.types import AudioFrame  # noqa: E402  (after the path set-up above)

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_offline:start -->", "<!-- bench_offline:end -->"
SESSION_START = "<!-- bench_offline_session:start -->"  # bench_offline_session.py's block
UTTERANCE = "Could you tell me what the weather will be like tomorrow?"
SHORT = "Sure, here you go."
NAMES = ("vad", "stt", "llm", "tts")


def _child(mode: str) -> None:
    """In a fresh process: load the models, exercise each once, print timings and peak RSS."""
    from flowagents.plugins.llama import LlamaLLM
    from flowagents.plugins.local import LocalProviders, local_providers
    from flowagents.plugins.piper import PiperTTS
    from flowagents.plugins.silero import SileroVAD
    from flowagents.plugins.whisper import WhisperSTT

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    if mode == "parallel":
        providers = local_providers()
    else:
        loaded = []
        for name, cls in zip(NAMES, (SileroVAD, WhisperSTT, LlamaLLM, PiperTTS), strict=True):
            t = time.perf_counter()
            loaded.append(cls())
            out[name] = time.perf_counter() - t
        providers = LocalProviders(*loaded)
    out["total"] = time.perf_counter() - t0
    asyncio.run(_exercise(providers))
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


async def _exercise(p: LocalProviders) -> None:
    """One call of each model, so peak RSS includes their working memory."""
    from flowagents.llm import ChatContext

    audio = await _speak(p, UTTERANCE)
    stream = p.vad.stream()
    for f in _frames(audio):
        stream.process(f)
    await p.stt.recognize(_frames(audio))
    ctx = ChatContext()
    ctx.add_message(role="user", content="What is the capital of France?")
    async for _ in p.llm.chat(chat_ctx=ctx):
        pass
    await p.aclose()


async def _speak(p: LocalProviders, text: str) -> AudioFrame:
    tts = p.tts
    chunks = [c async for c in tts.synthesize(text)]
    return AudioFrame(np.concatenate([c.frame.data for c in chunks]), tts.sample_rate)


def _frames(audio: AudioFrame, frame_s: float = 0.02) -> list[AudioFrame]:
    n = round(frame_s * audio.sample_rate)
    return [AudioFrame(audio.data[i:i + n], audio.sample_rate, timestamp=i / audio.sample_rate)
            for i in range(0, audio.data.size, n)]


def _run_child(mode: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def _stages(runs: int) -> dict[str, float]:
    from flowagents.llm import ChatContext
    from flowagents.plugins.local import local_providers

    p = local_providers()
    res: dict[str, float] = {}
    audio = await _speak(p, UTTERANCE)
    res["utterance_s"] = audio.duration

    # VAD: per 32 ms window, on 16 kHz input (no resampling in the measurement).
    pcm16 = np.interp(np.linspace(0, audio.data.size - 1, round(audio.duration * 16000)),
                      np.arange(audio.data.size), audio.data).astype(np.int16)
    windows = [AudioFrame(pcm16[i:i + 512], 16000) for i in range(0, pcm16.size - 511, 512)]
    per_window = []
    for _ in range(runs):
        stream = p.vad.stream()
        t = time.perf_counter()
        for w in windows:
            stream.process(w)
        per_window.append((time.perf_counter() - t) / len(windows))
    res["vad_window_ms"] = statistics.median(per_window) * 1000

    frames = _frames(audio)
    res["stt_s"] = await _stt_latency(p, frames, runs)
    window, p.stt.short_window = p.stt.short_window, None
    res["stt_full_s"] = await _stt_latency(p, frames, runs)  # the 30 s window, for comparison
    p.stt.short_window = window

    ttft, tps = [], []
    for i in range(runs + 1):
        ctx = ChatContext()
        ctx.add_message(role="system", content="You are a helpful voice assistant.")
        ctx.add_message(role="user", content=f"Tell me a fun fact about the number {i + 3}.")
        t = time.perf_counter()
        first = None
        usage = None
        async for c in p.llm.chat(chat_ctx=ctx):
            if first is None and c.delta:
                first = time.perf_counter()
            usage = c.usage or usage
        end = time.perf_counter()
        if i == 0 or first is None or usage is None:
            continue  # the first call warms the model
        ttft.append(first - t)
        tps.append(max(usage.completion_tokens - 1, 1) / max(end - first, 1e-6))
    res["llm_ttft_s"] = statistics.median(ttft)
    res["llm_tokens_per_s"] = statistics.median(tps)

    ttfb = []
    for i in range(runs + 1):
        t = time.perf_counter()
        async for _ in p.tts.synthesize(SHORT):
            if i:
                ttfb.append(time.perf_counter() - t)
            break
    res["tts_ttfb_s"] = statistics.median(ttfb)
    await p.aclose()
    return res


async def _stt_latency(p: LocalProviders, frames: list[AudioFrame], runs: int) -> float:
    """Median seconds of ``recognize`` on ``frames`` after a warm-up call."""
    await p.stt.recognize(frames)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        await p.stt.recognize(frames)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _table(seq: list[dict[str, float]], par: list[dict[str, float]],
           stages: dict[str, float], runs: int) -> str:
    med = {k: statistics.median(r[k] for r in seq) for k in (*NAMES, "total")}
    par_total = statistics.median(r["total"] for r in par)
    rss = max(r["rss_mb"] for r in seq + par)
    cpu = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    rows = [
        f"Offline providers (`python bench/bench_offline.py --runs {runs}`; {cpu}; medians of "
        f"{runs} runs, cold starts in fresh processes). The machine is shared: other processes' "
        "load moves these figures by up to 2x from one run to the next.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| cold start, Silero VAD | {med['vad']:.2f} s | |",
        f"| cold start, Whisper tiny.en (int8) | {med['stt']:.2f} s | |",
        f"| cold start, SmolLM2-135M Q4_1 | {med['llm']:.2f} s | |",
        f"| cold start, Piper joe medium | {med['tts']:.2f} s | |",
        f"| cold start, all four one after another | {med['total']:.2f} s | |",
        f"| cold start, all four in parallel (`local_providers()`) | {par_total:.2f} s | <= 2 s |",
        f"| VAD per 32 ms window | {stages['vad_window_ms']:.3f} ms | |",
        f"| STT on a {stages['utterance_s']:.1f} s utterance (10 s encoder window) | "
        f"{stages['stt_s'] * 1000:.0f} ms | |",
        f"| STT on the same, 30 s window (`WhisperSTT(short_window=None)`) | "
        f"{stages['stt_full_s'] * 1000:.0f} ms | |",
        f"| LLM time to first token | {stages['llm_ttft_s'] * 1000:.0f} ms | |",
        f"| LLM decoding speed | {stages['llm_tokens_per_s']:.0f} tokens/s | |",
        f"| TTS time to first audio (\"{SHORT}\") | {stages['tts_ttfb_s'] * 1000:.0f} ms | |",
        f"| peak RSS, all four loaded and used | {rss:.0f} MB | <= 1200 MB |",
    ]
    return "\n".join(rows)


def _write(section: str) -> None:
    """Replace the table, keeping what follows it in the section (the block
    ``bench_offline_session.py`` writes and the notes on it)."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    block = f"{START}\n{section}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        old, tail = rest.split(END, 1)
        if SESSION_START in old:
            kept = SESSION_START + old.split(SESSION_START, 1)[1]
            block = f"{START}\n{section}\n\n{kept}{END}"
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", choices=("sequential", "parallel"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    _run_child("sequential")  # first use verifies pins into the cache: not a cold start
    seq = [_run_child("sequential") for _ in range(args.runs)]
    par = [_run_child("parallel") for _ in range(args.runs)]
    stages = asyncio.run(_stages(args.runs))
    section = _table(seq, par, stages, args.runs)
    print(section)
    if not args.no_write:
        _write(section)


if __name__ == "__main__":
    main()
