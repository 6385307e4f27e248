"""Benchmark: the user's last word to the agent's first audio, over the evaluation set at its
natural pace, through a whole session on the offline models; and how many turns were cut off.

Every question of ``bench/eval_set.py`` is spoken (Piper's joe and espeak-ng's American voice in
turn) and played in real time into one ``AgentSession`` running the weather agent's instructions
and tool (replies cut after their first sentence so a turn takes a few seconds). Every fourth
question is said with a hesitation: 0.7 s of silence mid-phrase, after its last preposition,
article or conjunction before the final word ("What's the temperature in ... Tokyo?", "What
color is the sky on a ... clear day?"), or after its middle word when it has none ("What
planet ... do we live on?"): where a speaker stops to think, not after words that already
make a whole question.

Per turn: **the user's last word** is where the input has its last 10 ms window above -40 dBFS
(the clip's own audio, not the VAD's estimate); **first audio** is when the session started
playing the reply. Stages: STT (last word -> final transcript), end of utterance (last word ->
turn committed), LLM time to first token, TTS time to first byte, total. A question is **cut
off early** when the session committed a user turn before the question's last word (it took
the first part of a hesitation for the whole turn and answered it, whether or not that reply
got to play before the user went on); how many of those replies started playing before the
last word is counted too. A question with no reply within 60 s counts as "no reply".

Configurations (``--configs``, options over ``LocalProviders.session_kwargs()``): ``local``
(what it gives), ``vad_only`` (the VAD's 0.55 s silence wait, Whisper after 0.1 s of it, no
turn detector). ``--code PATH --label NAME`` measures another checkout's ``flowagents`` (the
code before a change) in a child process; ``--json FILE`` keeps a run's turns, ``--merge
A.json,B.json`` writes their table side by side (runs of the same name, parts of one
configuration run with ``--select``, are joined). Writes a block to ``docs/benchmarks.md``
(between ``bench_offline_latency`` markers).

    flock /tmp/bench.lock python bench/bench_offline_latency.py [--configs local,vad_only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
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
    "local": {},
    "transcript": {"min_silence_duration": 0.3, "speculative_stt_delay": 0.1,
                   "preemptive_tts": True, "turn_detection": "heuristic",
                   "min_endpointing_delay": 0.3, "max_endpointing_delay": 1.5},
    "vad_only": {"min_silence_duration": 0.55, "speculative_stt_delay": 0.1,
                 "preemptive_tts": True, "turn_detection": None,
                 "min_endpointing_delay": 0.5, "max_endpointing_delay": 3.0},
}
MID_PHRASE = frozenset({"a", "an", "and", "at", "but", "for", "from", "in", "into", "of", "on",
                        "or", "the", "to", "with", "my", "your"})
"""Words after which a pause is a hesitation, not the end of a question."""


def pause_after(words: list[str]) -> int:
    """How many of ``words`` come before the hesitation (see the module docstring)."""
    for i in range(len(words) - 2, 0, -1):
        if words[i].strip(",.?!").lower() in MID_PHRASE:
            return i + 1
    return len(words) // 2


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
            half = pause_after(words)
            first = await synthesize(" ".join(words[:half]), voice, piper)
            rest = await synthesize(" ".join(words[half:]), voice, piper)
            pcm = np.concatenate([lead, first, np.zeros(round(PAUSE * RATE), np.int16), rest])
        else:
            pcm = np.concatenate([lead, await synthesize(item.question, voice, piper)])
        out.append(Clip(item.question, pcm, last_word(pcm), hesitant))
    return out


@dataclass
class Turn:
    question: str
    hesitant: bool
    word_at: float  # session clock
    stt: float | None = None
    eou: float | None = None
    llm_ttft: float | None = None
    tts_ttfb: float | None = None
    total: float | None = None
    cut_off: bool = False  # a turn committed before the last word
    played_early: bool = False  # ... and its reply started playing before the last word
    replies: int = 0


async def run(options: dict[str, Any], items: list[Clip]) -> list[Turn]:
    import weather  # examples/weather.py
    from session_kit import ShortAgent, start_session, wait_quiet  # type: ignore[import-not-found]

    import flowagents
    from flowagents.plugins.local import local_providers

    print(f"flowagents from {Path(flowagents.__file__).parent}", flush=True)
    providers = local_providers()
    tools = [weather.WeatherAgent().lookup_weather]
    await providers.warm_up(tools)
    agent = ShortAgent(instructions=weather.INSTRUCTIONS, tools=tools, max_words=25)
    if options.get("turn_detection") == "heuristic":
        from flowagents.voice.turn_detector import HeuristicTurnDetector

        options = options | {"turn_detection": HeuristicTurnDetector()}
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
            turn = Turn(clip.question, clip.hesitant, word_at)
            deadline = loop.time() + 60
            while loop.time() < deadline:
                w = live.watch
                if (len(w.turns) > before_turns and w.turns[-1].first_audio_at is not None
                        and await wait_quiet(w, 0.3, deadline - loop.time())):
                    break
                await asyncio.sleep(0.05)
            mine = live.watch.turns[before_turns:]
            turn.replies = len(mine)
            firsts = [t.first_audio_at for t in mine if t.first_audio_at is not None]
            turn.cut_off = any(t.committed_at < word_at for t in mine)
            turn.played_early = any(f < word_at for f in firsts)
            if firsts:
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
                  f"total {turn.total}, eou {turn.eou}, llm {turn.llm_ttft}, replies "
                  f"{turn.replies}, cut off {turn.cut_off}", flush=True)
            await asyncio.sleep(GAP)
    finally:
        await live.session.aclose()
        await providers.aclose()
    return turns


STAGES = (("STT (last word -> final transcript)", "stt"),
          ("end of utterance (last word -> turn committed)", "eou"),
          ("LLM time to first token", "llm_ttft"), ("TTS time to first byte", "tts_ttfb"),
          ("**total: last word -> first audio**", "total"))


def table(runs: dict[str, list[Turn]], loads: dict[str, list[tuple[float, float]]]) -> str:
    names = list(runs)
    n = len(next(iter(runs.values())))
    load = "; ".join(f"`{x}` " + ", then ".join(f"{a:.2f} before, {b:.2f} after" for a, b in parts)
                     + (f" ({len(parts)} runs)" if len(parts) > 1 else "")
                     for x, parts in loads.items())
    rows = [f"{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores; load "
            f"average (1 min) {load}; {n} questions of the evaluation set per configuration "
            f"(Piper joe and espeak-ng en-us in turn; every fourth with a {PAUSE} s hesitation "
            "mid-phrase), played in real time, replies cut after the first sentence.",
            "", "| stage | " + " | ".join(f"{x} p50 | {x} p90" for x in names) + " |",
            "|---|" + "---|---|" * len(names)]
    for label, attr in STAGES:
        cells = []
        for name in names:
            vals = [v for t in runs[name] if (v := getattr(t, attr)) is not None]
            cells += _cells(vals)
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    tool = {t.question for t in runs[names[0]] if _is_tool(t.question)}
    for label, keep in (("(tool turns)", lambda t: t.question in tool),
                        ("(other turns)", lambda t: t.question not in tool)):
        cells = []
        for name in names:
            vals = [t.total for t in runs[name] if keep(t) and t.total is not None]
            cells += _cells(vals)
        rows.append(f"| total {label} | " + " | ".join(cells) + " |")
    cut = [f"`{x}` {sum(t.cut_off for t in runs[x])} of {len(runs[x])} "
           f"({sum(t.cut_off for t in runs[x] if t.hesitant)} of "
           f"{sum(t.hesitant for t in runs[x])} hesitant; "
           f"{sum(t.played_early for t in runs[x])} played before the last word)"
           for x in names]
    missing = [f"`{x}` {sum(t.total is None for t in runs[x])}" for x in names]
    rows += ["", f"Cut off early (a user turn committed before the question's last word): "
                 f"{'; '.join(cut)}. Questions with no reply within 60 s: "
                 f"{'; '.join(missing)}. Goal: p50 <= 0.9 s, p90 <= 1.3 s, <= 5 % cut off.",
             "", "Reproduce: `flock /tmp/bench.lock python bench/bench_offline_latency.py` "
                 "(`--code PATH --label before` for another checkout; `--select`, `--json` and "
                 "`--merge` to run it in parts)."]
    return "\n".join(rows)


def _cells(vals: list[float]) -> list[str]:
    return ([f"{percentile(vals, 50):.2f} s", f"{percentile(vals, 90):.2f} s"] if vals
            else ["-", "-"])


def _is_tool(question: str) -> bool:
    return any(i.question == question and i.kind == "tool" for i in ITEMS)


def _child(code: str, label: str, configs: str, limit: int | None,
           select: str | None) -> dict[str, list[Turn]]:
    """Run ``configs`` on the checkout at ``code`` in a child process (its own imports)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "turns.json"
        cmd = [sys.executable, __file__, "--configs", configs, "--json", str(out),
               "--no-write"] + (["--limit", str(limit)] if limit else []) + (
               ["--select", select] if select else [])
        done = subprocess.run(cmd, check=False, env=os.environ | {"FLOWAGENTS_CODE": code})
        if not out.exists():  # (an abort at the child's exit, after its turns, is no loss)
            raise RuntimeError(f"the run on {code} failed ({done.returncode})")
        data = json.loads(out.read_text())["runs"]
    return {label if len(data) == 1 else f"{label} {k}": [Turn(**t) for t in v]
            for k, v in data.items()}


def merge(paths: list[str]) -> tuple[dict[str, list[Turn]], dict[str, list[tuple[float, float]]]]:
    """The runs of ``--json`` files, by name; runs of the same name (parts of one configuration
    run with ``--select``) are joined in the order given, with the loads of each part."""
    runs: dict[str, list[Turn]] = {}
    loads: dict[str, list[tuple[float, float]]] = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        for name, turns in data["runs"].items():
            runs.setdefault(name, []).extend(Turn(**t) for t in turns)
            got = data["loads"][name]
            parts = got if isinstance(got[0], list) else [got]  # (a file of an older run)
            loads.setdefault(name, []).extend((a, b) for a, b in parts)
    return runs, loads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="local")
    ap.add_argument("--code", help="measure the flowagents of this checkout (child process)")
    ap.add_argument("--label", default="before", help="the name of --code's runs")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--select", help="only these questions (comma-separated indices)")
    ap.add_argument("--json", help="write the turns here")
    ap.add_argument("--merge", help="comma-separated --json files: their table, no run")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    runs: dict[str, list[Turn]] = {}
    loads: dict[str, list[tuple[float, float]]] = {}
    if args.merge:
        runs, loads = merge(args.merge.split(","))
    elif args.code:
        load0 = os.getloadavg()[0]
        runs = _child(args.code, args.label, args.configs, args.limit, args.select)
        loads = {name: [(load0, os.getloadavg()[0])] for name in runs}
    else:
        items = asyncio.run(clips())[: args.limit]
        if args.select:
            items = [items[int(i)] for i in args.select.split(",")]
        for name in args.configs.split(","):
            load0 = os.getloadavg()[0]
            runs[name] = asyncio.run(run(CONFIGS[name], items))
            loads[name] = [(load0, os.getloadavg()[0])]
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"runs": {k: [asdict(t) for t in v] for k, v in runs.items()}, "loads": loads}))
    block = table(runs, loads)
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
