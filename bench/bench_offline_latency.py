"""Benchmark: the user's last word to the agent's first audio, over the evaluation set at its
natural pace, through a whole session on the offline models; and how many turns were cut off.

Every question of ``bench/eval_set.py`` is spoken (Piper's joe and espeak-ng's American voice in
turn) and played in real time into one ``AgentSession`` running the weather agent's instructions
and tool (replies cut after their first sentence so a turn takes a few seconds). Every fourth
question is said with a hesitation: its first half, 0.7 s of silence, then the rest ("What is the
weather ... in Tokyo?"), the pause of someone who is still thinking.

Per turn: **the user's last word** is where the input has its last 10 ms window above -40 dBFS
(the clip's own audio, not the VAD's estimate); **first audio** is when the session started
playing the reply. Stages: STT (last word -> final transcript), end of utterance (last word ->
turn committed), LLM time to first token, TTS time to first byte, total. A turn is **cut off
early** when the agent started a reply before the user's last word (it answered the first half
of a hesitation), or when the user's clip got more than one reply. Configurations (``--configs``):
``before`` (the options ``session_kwargs()`` gave before: the VAD's 0.55 s silence wait, Whisper
after 0.1 s of it, no turn detector) and ``local`` (what it gives now). Writes a block to
``docs/benchmarks.md`` (between ``bench_offline_latency`` markers).

    flock /tmp/bench.lock python bench/bench_offline_latency.py [--configs before,local]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_kit import ROOT, percentile, piper_voices, synthesize, voices  # noqa: E402
from eval_set import ITEMS  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "e2e"))

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_offline_latency:start -->", "<!-- bench_offline_latency:end -->"
RATE = 16000
PAUSE = 0.7  # a hesitation inside a question
LEAD = 0.3  # silence before each question
GAP = 1.0  # silence after the agent is quiet, before the next question

CONFIGS: dict[str, dict[str, Any]] = {
    "before": {"min_silence_duration": 0.55, "speculative_stt_delay": 0.1,
               "preemptive_tts": True, "turn_detection": None,
               "min_endpointing_delay": 0.5, "max_endpointing_delay": 3.0},
    "local": {},
}


@dataclass
class Clip:
    question: str
    pcm: Any
    last_word: float  # seconds into ``pcm``
    hesitant: bool


def last_word(pcm: Any) -> float:
    """Seconds into ``pcm`` where its last 10 ms window above -40 dBFS ends."""
    n = RATE // 100
    frames = pcm[: pcm.size - pcm.size % n].astype(np.float32).reshape(-1, n) / 32768.0
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)
    return float((loud[-1] + 1) * n / RATE) if loud.size else 0.0


async def clips() -> list[Clip]:
    piper = piper_voices()
    vs = [v for v in ("piper-joe", "espeak-us") if v in voices()]
    lead = np.zeros(round(LEAD * RATE), np.int16)
    out = []
    for i, item in enumerate(ITEMS):
        voice = vs[i % len(vs)]
        words = item.question.split()
        hesitant = i % 4 == 3 and len(words) >= 4
        if hesitant:
            half = len(words) // 2
            first = await synthesize(" ".join(words[:half]), voice, piper)
            rest = await synthesize(" ".join(words[half:]), voice, piper)
            pcm = np.concatenate([lead, first, np.zeros(round(PAUSE * RATE), np.int16), rest])
        else:
            pcm = np.concatenate([lead, await synthesize(item.question, voice, piper)])
        out.append(Clip(item.question, pcm, last_word(pcm), hesitant))
    return out


@dataclass
class Turn:
    clip: Clip
    word_at: float  # session clock
    stt: float | None = None
    eou: float | None = None
    llm_ttft: float | None = None
    tts_ttfb: float | None = None
    total: float | None = None
    cut_off: bool = False
    replies: int = 0


async def run(options: dict[str, Any], items: list[Clip]) -> list[Turn]:
    import weather  # examples/weather.py
    from session_kit import ShortAgent, start_session, wait_quiet  # type: ignore[import-not-found]

    from flowagents.plugins.local import local_providers

    providers = local_providers()
    tools = [weather.WeatherAgent().lookup_weather]
    await providers.warm_up(tools)
    agent = ShortAgent(instructions=weather.INSTRUCTIONS, tools=tools, max_words=25)
    live = await start_session(providers, agent, **options)
    turns: list[Turn] = []
    finals: list[float] = []
    live.session.on("user_input_transcribed",
                    lambda ev: finals.append(live.session.now()) if ev.is_final else None)
    loop = asyncio.get_running_loop()
    try:
        for clip in items:
            before_turns, before_finals = len(live.watch.turns), len(finals)
            starts = len(live.mic.clip_starts)
            done = live.mic.say(clip.pcm)
            await done.wait()
            word_at = live.mic.clip_starts[starts] + clip.last_word
            turn = Turn(clip, word_at)
            deadline = loop.time() + 30
            while loop.time() < deadline:
                w = live.watch
                if (len(w.turns) > before_turns and w.turns[-1].first_audio_at is not None
                        and await wait_quiet(w, 0.3, deadline - loop.time())):
                    break
                await asyncio.sleep(0.05)
            mine = live.watch.turns[before_turns:]
            turn.replies = len(mine)
            firsts = [t.first_audio_at for t in mine if t.first_audio_at is not None]
            if firsts:
                turn.cut_off = min(firsts) < word_at or len(mine) > 1
                last = mine[-1]
                turn.total = (last.first_audio_at - word_at
                              if last.first_audio_at is not None else None)
                turn.eou = last.committed_at - word_at
                turn.llm_ttft, turn.tts_ttfb = last.llm_ttft, last.tts_ttfb
            new_finals = finals[before_finals:]
            if new_finals:
                turn.stt = new_finals[-1] - word_at
            turns.append(turn)
            print(f"{clip.question!r}{' (hesitant)' if clip.hesitant else ''}: "
                  f"total {turn.total}, replies {turn.replies}, cut off {turn.cut_off}",
                  flush=True)
            await asyncio.sleep(GAP)
    finally:
        await live.session.aclose()
        await providers.aclose()
    return turns


STAGES = (("STT (last word -> final transcript)", "stt"),
          ("end of utterance (last word -> turn committed)", "eou"),
          ("LLM time to first token", "llm_ttft"), ("TTS time to first byte", "tts_ttfb"),
          ("**total: last word -> first audio**", "total"))


def table(runs: dict[str, list[Turn]], load: tuple[float, float]) -> str:
    names = list(runs)
    n = len(next(iter(runs.values())))
    rows = [f"{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores; load "
            f"average {load[0]:.2f} before, {load[1]:.2f} after; {n} questions of the evaluation "
            f"set per configuration (Piper joe and espeak-ng en-us in turn; every fourth with a "
            f"{PAUSE} s hesitation), played in real time, replies cut after the first sentence.",
            "", "| stage | " + " | ".join(f"{x} p50 | {x} p90" for x in names) + " |",
            "|---|" + "---|---|" * len(names)]
    for label, attr in STAGES:
        cells = []
        for name in names:
            vals = [v for t in runs[name] if (v := getattr(t, attr)) is not None]
            cells += [f"{percentile(vals, 50):.2f} s", f"{percentile(vals, 90):.2f} s"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    cut = [f"`{x}` {sum(t.cut_off for t in runs[x])} of {len(runs[x])} "
           f"({sum(t.cut_off for t in runs[x] if t.clip.hesitant)} of "
           f"{sum(t.clip.hesitant for t in runs[x])} hesitant)" for x in names]
    missing = [f"`{x}` {sum(t.total is None for t in runs[x])}" for x in names]
    rows += ["", f"Cut off early (a reply started before the user's last word, or two replies "
                 f"to one question): {'; '.join(cut)}. Turns with no reply: "
                 f"{'; '.join(missing)}. Goal: p50 <= 0.9 s, p90 <= 1.3 s, <= 5 % cut off.",
             "", "Reproduce: `flock /tmp/bench.lock python bench/bench_offline_latency.py`."]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="before,local")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    items = asyncio.run(clips())[: args.limit]
    runs = {name: asyncio.run(run(CONFIGS[name], items)) for name in args.configs.split(",")}
    block = table(runs, (load0, os.getloadavg()[0]))
    print(block)
    if not args.no_write:
        text = DOCS.read_text()
        body = f"{START}\n{block}\n{END}"
        if START in text:
            text = text[:text.index(START)] + body + text[text.index(END) + len(END):]
        else:
            text = (text.rstrip() + "\n\n## Last word to first audio over the evaluation set "
                    f"(bench_offline_latency)\n\n{body}\n")
        DOCS.write_text(text)


if __name__ == "__main__":
    main()
