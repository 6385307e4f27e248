"""Benchmark: end of the user's speech to the agent's first audio, through a whole session on the
four offline models (Silero VAD, Whisper tiny.en, SmolLM2-135M, Piper), by stage.

One ``AgentSession`` hears short spoken questions (Piper's voice, resampled to 16 kHz), played in
real time as a microphone would (the session's clock is the loop's), one turn after another;
each reply is cut after its first sentence (``tests/e2e/session_kit.ShortAgent``) so a turn takes
a few seconds. Per turn, from the session's ``metrics_collected`` events and the output: end of
utterance (end of speech -> turn committed), STT (end of speech -> final transcript), LLM time to
first token, TTS time to first byte, and the total from the end of speech (the VAD's end, dated
back) and from the moment the VAD's silence wait ended to the first audio frame. Reports p50 and
p90 over ``--turns`` and the load average, and writes a block inside the ``bench_offline``
section of ``docs/benchmarks.md`` (between the ``bench_offline_session`` markers).

    python bench/bench_offline_session.py [--turns 12] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flowagents.cli.console_cmd import TurnTimings  # noqa: E402  (after the path set-up)

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_offline_session:start -->", "<!-- bench_offline_session:end -->"
OUTER_END = "<!-- bench_offline:end -->"
QUESTIONS = [
    "What is the weather in Tokyo?",
    "Hello, what can you do?",
    "What time is it in Paris?",
    "Can you tell me a joke?",
    "How far is the moon?",
    "What should I cook tonight?",
]
STAGES = [("end of utterance (end of speech -> turn committed)", "end_of_utterance"),
          ("STT (end of speech -> final transcript)", "stt"),
          ("LLM time to first token", "llm_ttft"),
          ("TTS time to first byte", "tts_ttfb"),
          ("**total: end of speech -> first audio**", "total"),
          ("**after the VAD's silence wait -> first audio**", "after_vad")]


async def _clips(providers: object) -> list[object]:
    import numpy as np

    from flowagents.cli.console_io import RATE, _resample

    tts = providers.tts  # type: ignore[attr-defined]
    clips: list[object] = []
    for text in QUESTIONS:
        chunks = [c.frame.data async for c in tts.synthesize(text)]
        pcm = _resample(np.concatenate(chunks), tts.sample_rate, RATE)
        clips.append(np.concatenate([np.zeros(RATE * 3 // 10, np.int16), pcm]))
    return clips


CONFIGS: dict[str, dict[str, Any]] = {
    "library_default": {"speculative_stt_delay": 0.2, "preemptive_tts": False},
    "0.2_preemptive_tts": {"speculative_stt_delay": 0.2, "preemptive_tts": True},
    "local": {},
    "no_speculation": {"speculative_stt_delay": None, "preemptive_tts": False},
}
"""Session options per configuration, over ``LocalProviders.session_kwargs()``: the library's
defaults (preemptive LLM; Whisper started speculatively after 0.2 s of the VAD's silence wait;
TTS on the committed turn), the same with the TTS started on the final transcript, what
``session_kwargs()`` gives the console and examples (``nodes.local.SESSION_OPTIONS``: Whisper
after 0.1 s, preemptive TTS), and speculation off."""


async def _run(turns: int, options: dict[str, Any]
               ) -> tuple[list[TurnTimings], float, float]:
    from session_kit import (  # type: ignore[import-not-found]
        ShortAgent,
        start_session,
        wait_quiet,
    )

    from flowagents.plugins.local import local_providers

    providers = local_providers()
    await providers.warm_up()
    clips = await _clips(providers)
    live = await start_session(providers, ShortAgent(max_words=20), **options)
    silence = live.session.vad.options.min_silence_duration if live.session.vad else 0.0
    endpointing = live.session.options.min_endpointing_delay
    try:
        for i in range(turns):
            before = len(live.watch.turns)
            await live.mic.say(clips[i % len(clips)]).wait()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while loop.time() < deadline:
                w = live.watch
                if (len(w.turns) > before and w.turns[-1].first_audio_at is not None
                        and await wait_quiet(w, 0.3, deadline - loop.time())):
                    break
                await asyncio.sleep(0.05)
            t = live.watch.turns[-1] if len(live.watch.turns) > before else None
            print(f"turn {i + 1}: " + (t.line(i + 1) if t else "no turn"), flush=True)
    finally:
        await live.session.aclose()
        await providers.aclose()
    return [t for t in live.watch.turns if t.total is not None], silence, endpointing


def _cpu() -> tuple[float, float, float] | None:
    """(wall, this process's CPU, the whole machine's busy CPU) in seconds; None without
    ``/proc/stat``. Two samples give the CPU other processes took between them."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle, not iowait
    return time.monotonic(), sum(os.times()[:2]), busy


def _others(before: tuple[float, float, float] | None,
            after: tuple[float, float, float] | None) -> float | None:
    """Other processes' CPU between two :func:`_cpu` samples, in % of one core."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return max(0.0, (after[2] - before[2]) - (after[1] - before[1])) / (after[0] - before[0]) * 100


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _table(runs: dict[str, list[TurnTimings]], asked: int, silence: float, endpointing: float,
           load: tuple[float, float, float], wall: float,
           load_before: tuple[float, float, float] | None = None,
           others: dict[str, float | None] | None = None) -> str:
    names = list(runs)
    measured = ", ".join(f"{len(runs[n])} of {asked} turns with `{n}`" for n in names)
    busy = {n: v for n, v in (others or {}).items() if v is not None}
    shares = ("; other processes took " + ", ".join(f"{v:.0f} %" for v in busy.values())
              + f" of {100 * (os.cpu_count() or 1)} % CPU during the "
              + ", ".join(f"`{n}`" for n in busy) + " turns" if busy else "")
    before = (f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} at the "
              "start, " if load_before is not None else "")
    rows = [
        f"### Through the session: end of user speech -> first agent audio "
        f"(`python bench/bench_offline_session.py --turns {asked}`)",
        "",
        f"{time.strftime('%Y-%m-%d')}; {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; {measured}, in {wall:.0f} s; **load average "
        f"{before}{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}** (1/5/15 min) at the end{shares}: "
        "the cores are shared with other work, which inflates every model stage (the p90s most). "
        "Spoken questions of about 2 s played in real time into one `AgentSession` on the "
        f"four offline models; VAD silence wait {silence:.2f} s, min endpointing delay "
        f"{endpointing:.2f} s, preemptive generation on (`preemptive_tts`: the TTS too starts "
        "on the final transcript); replies cut after the first sentence.",
        "",
        "| stage | " + " | ".join(f"{n} p50 | {n} p90" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    for label, attr in STAGES:
        cells = []
        for n in names:
            values = [v for t in runs[n] if (v := getattr(t, attr)) is not None]
            cells += ([f"{_pct(values, 0.5):.2f} s", f"{_pct(values, 0.9):.2f} s"] if values
                      else ["-", "-"])
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    verdicts = []
    for n in names:
        after = [t.after_vad for t in runs[n] if t.after_vad is not None]
        if after:
            p50 = _pct(after, 0.5)
            verdicts.append(f"`{n}` {p50:.2f} s, {'met' if p50 <= 0.8 else 'MISSED'}")
    rows += ["", "Goal: p50 <= 0.8 s after the VAD's silence wait: **" + "; ".join(verdicts)
             + "**. The stages overlap (STT runs during the endpointing delay, the LLM starts "
             "on the final transcript before the turn commits), so they do not add up to the "
             "total. Whisper (a batch STT on the session VAD's segments, no second VAD) starts "
             "after `speculative_stt_delay` of the VAD's silence wait (0.2 s the library "
             "default, 0.1 s in `local`, what `LocalProviders.session_kwargs()` gives the "
             "console and examples) on the speech so far, and its final is held until the "
             "VAD's end: STT at the silence wait (0.55 s, plus the VAD's 32 ms windows) means "
             "the transcript was ready before the VAD ended, and the turn commits then. After "
             "the silence wait a turn costs the LLM's first token, the LLM writing the first "
             "piece the TTS voices (a sentence, or a clause of 4 words or more) and Piper "
             "voicing it (TTS first byte)."]
    return "\n".join(rows)


def _write(block: str) -> None:
    text = DOCS.read_text()
    inner = f"{START}\n{block}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + inner + rest.split(END, 1)[1]
    elif OUTER_END in text:
        head, rest = text.split(OUTER_END, 1)
        text = head.rstrip("\n") + "\n\n" + inner + "\n" + OUTER_END + rest
    else:
        text = text.rstrip("\n") + f"\n\n<!-- bench_offline:start -->\n{inner}\n{OUTER_END}\n"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--configs", default="library_default,0.2_preemptive_tts,local",
                        help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()
    runs: dict[str, list[TurnTimings]] = {}
    others: dict[str, float | None] = {}
    silence = endpointing = 0.0
    for name in args.configs.split(","):
        print(f"-- {name}", flush=True)
        sample = _cpu()
        runs[name], silence, endpointing = asyncio.run(_run(args.turns, CONFIGS[name]))
        others[name] = _others(sample, _cpu())
        print(f"-- {name}: other processes' CPU {others[name]} % of one core", flush=True)
    load = os.getloadavg()
    block = _table(runs, args.turns, silence, endpointing, load,
                   time.perf_counter() - started, load_before, others)
    print(block)
    if not args.no_write:
        _write(block)


if __name__ == "__main__":
    main()
