"""Evaluation of the offline agent: does it hear the question, follow its instructions and answer?

The agent is ``examples/weather.py`` (instructions, ``lookup_weather`` tool, greeting) on the
offline models. Every question of ``bench/eval_set.py`` (42: facts, short instructions, weather
questions for the tool, questions about the agent itself) is spoken in every voice of
``bench/eval_kit.py`` (Piper's joe at two speeds, three espeak-ng voices) with 0.3 s of silence
around it, and:

- transcribed by each Whisper model given (``--stt tiny.en base``): word error rate against the
  question's text and median/p90 recognition time, with and without the decoder prompt
  (``--hotwords``: the agent's tool names and instruction words);
- answered by SmolLM2 through the agent's tool loop from the transcript of ``--answer-stt``
  (and once from the question's text): an answer *hits* when it says one of the item's keywords
  (for a weather question: a word of the tool's result, and the call must name the city); an
  answer *contradicts* the instructions when it uses formatting, says more than two sentences,
  claims another identity or denies the weather tool (``eval_set.contradictions``); a reply
  that does not end on a sentence end is *cut*;
- the greeting (``GREETING`` as the reply's extra instructions) is generated ``--greetings``
  times: how many follow it (say "city" or "weather") and how many distinct greetings there are;
- the held-out paraphrases (``eval_set.HELD_OUT``, 22 questions never used to tune the prompt
  or the tool routing) are answered from their text, on a row of their own.

``--text-only`` skips the voices and the STT (answers from the text, held-out and greetings:
about two minutes on 2 cores), for iterating on the prompt.

Results go to ``docs/offline.md`` between ``bench_offline_eval:<label>`` markers
(``--label``), so a before and an after sit side by side.

    flock /tmp/bench.lock python bench/bench_offline_eval.py [--label after] [--stt tiny.en base]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_kit import (  # noqa: E402
    ROOT,
    Answer,
    answer,
    percentile,
    piper_voices,
    synthesize,
    voices,
    wer,
)
from eval_set import (  # noqa: E402
    GREETING_KEYWORDS,
    HELD_OUT,
    ITEMS,
    Item,
    contradictions,
    has_keyword,
)

from flowagents.types import AudioFrame  # noqa: E402

DOCS = ROOT / "docs" / "offline.md"
PAD = 0.3  # seconds of silence around each spoken question
_END = re.compile(r"[.!?…][\"'”’)\]]*\s*$")


def _frames(pcm: Any) -> list[AudioFrame]:
    import numpy as np

    pad = np.zeros(round(PAD * 16000), np.int16)
    return [AudioFrame(np.concatenate([pad, pcm, pad]), 16000)]


def _score(item: Item, ans: Answer) -> tuple[bool, list[str]]:
    hit = has_keyword(ans.text, item.keywords)
    if item.kind == "tool":
        named = any(str(args.get("location", "")).strip().lower() == item.city
                    for _, args in ans.calls)
        hit = hit and named
    elif ans.calls:
        hit = False  # a weather call for a question that is not about the weather
    return hit, contradictions(ans.text)


async def _answers(llm: Any, agent: Any, questions: list[tuple[Item, str]]
                   ) -> list[dict[str, Any]]:
    rows = []
    memo: dict[str, Answer] = {}  # greedy decoding: one answer per distinct transcript
    for item, heard in questions:
        key = heard.strip()
        ans = memo.get(key) or await answer(llm, agent, heard)
        memo[key] = ans
        hit, bad = _score(item, ans)
        rows.append({"item": item, "heard": heard, "answer": ans, "hit": hit, "bad": bad,
                     "cut": bool(ans.text.strip()) and not _END.search(ans.text)})
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, list[bool]] = {}
    for r in rows:
        by_kind.setdefault(r["item"].kind, []).append(r["hit"])
    return {"n": len(rows), "hit": sum(r["hit"] for r in rows),
            "bad": sum(bool(r["bad"]) for r in rows), "cut": sum(r["cut"] for r in rows),
            "kinds": {k: (sum(v), len(v)) for k, v in by_kind.items()}}


def _misrouted(rows: list[dict[str, Any]]) -> int:
    return sum(bool(r["answer"].calls) != (r["item"].kind == "tool") for r in rows)


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f} %)" if b else "-"


async def main(args: argparse.Namespace) -> str:
    import weather  # examples/weather.py (eval_kit puts examples/ on the path)

    from flowagents.plugins.llama import LlamaLLM
    from flowagents.plugins.whisper import WhisperSTT

    agent = weather.WeatherAgent()
    llm = LlamaLLM()
    if args.text_only:
        args.stt, args.hotwords = [], False
    piper = piper_voices() if args.stt else {}
    vs = voices() if args.stt else []
    clips = {(i, v): await synthesize(item.question, v, piper)
             for i, item in enumerate(ITEMS) for v in vs}
    lines = []
    transcripts: dict[str, dict[tuple[int, str], str]] = {}
    for model in args.stt:
        for hot in ([False, True] if args.hotwords else [False]):
            stt = WhisperSTT(model=model) if model != "tiny.en" else WhisperSTT()
            if hot:
                stt.set_prompt(_hotwords(agent))
            await stt.recognize(_frames(clips[0, vs[0]]))  # first-call set-up
            heard, times = {}, []
            for key, pcm in clips.items():
                t = time.perf_counter()
                heard[key] = (await stt.recognize(_frames(pcm))).text
                times.append(time.perf_counter() - t)
            await stt.aclose()
            name = model + (" + prompt" if hot else "")
            transcripts[name] = heard
            keys = list(clips)
            voice_wer = ", ".join(
                f"{v} {100 * wer(*_pairs(heard, [k for k in keys if k[1] == v])):.1f}"
                for v in vs)
            lines.append(f"| {name} | {100 * wer(*_pairs(heard, keys)):.1f} % | "
                         f"{1000 * statistics.median(times):.0f} ms | "
                         f"{1000 * percentile(times, 90):.0f} ms | {voice_wer} |")
            print(lines[-1], flush=True)
    text_rows = await _answers(llm, agent, [(item, item.question) for item in ITEMS])
    held_rows = await _answers(llm, agent, [(item, item.question) for item in HELD_OUT])
    chosen = transcripts.get(args.answer_stt or "", {})
    heard_rows = await _answers(llm, agent, [(ITEMS[i], chosen[i, v]) for i, v in chosen])
    greetings = [await answer(llm, agent, None, extra_instructions=weather.GREETING)
                 for _ in range(args.greetings)]
    await llm.aclose()
    return _report(args, vs, lines, text_rows, heard_rows, greetings, held_rows)


def _pairs(heard: dict[tuple[int, str], str], keys: list[tuple[int, str]]
           ) -> tuple[list[str], list[str]]:
    return [ITEMS[i].question for i, _ in keys], [heard[k] for k in keys]


def _hotwords(agent: Any) -> str:
    """The words the agent expects to hear: its tool names and its instructions."""
    names = " ".join(t.name.replace("_", " ") for t in agent.tools)
    return f"{names}. {agent.instructions}"


def _report(args: argparse.Namespace, vs: list[str], stt_lines: list[str],
            text_rows: list[dict[str, Any]], heard_rows: list[dict[str, Any]],
            greetings: list[Answer], held_rows: list[dict[str, Any]]) -> str:
    t, h, held = _summary(text_rows), _summary(heard_rows), _summary(held_rows)
    greet_ok = sum(has_keyword(g.text, GREETING_KEYWORDS) and not contradictions(g.text)
                   for g in greetings)
    distinct = len({g.text for g in greetings})
    out = [f"Run `{' '.join(sys.argv[1:]) or '(defaults)'}` on {platform.node()}, "
           f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; voices: {', '.join(vs)}; "
           f"{len(ITEMS)} questions.", ""]
    if stt_lines:
        out += ["| STT | WER | median | p90 | WER per voice (%) |", "|---|---|---|---|---|",
                *stt_lines, ""]
    out += ["| answers from | keyword | contradicts | cut mid-sentence | fact | instruction "
           "| tool | persona |", "|---|---|---|---|---|---|---|---|"]
    rows = [("the question's text", t), ("held-out paraphrases' text", held)]
    if heard_rows:
        rows.append((f"{args.answer_stt} transcripts", h))
    for name, s in rows:
        k = s["kinds"]
        out.append(f"| {name} | {_pct(s['hit'], s['n'])} | {s['bad']} | {s['cut']} | "
                   + " | ".join(_pct(*k.get(x, (0, 0))) for x in
                                ("fact", "instruction", "tool", "persona")) + " |")
    routed = ", ".join(f"{_misrouted(r)}/{len(r)} {name}" for name, r in (
        ("from the text", text_rows), ("held-out", held_rows),
        (f"from {args.answer_stt} transcripts", heard_rows)) if r)
    out += ["", f"Tool routing wrong (a weather question without a call, or another with one): "
            f"{routed}."]
    out += ["", f"Greeting: {greet_ok}/{len(greetings)} follow it, {distinct} distinct: "
            + " / ".join(f"“{g}”" for g in sorted({g.text for g in greetings})[:3]), ""]
    misses = [r for r in text_rows if not r["hit"] or r["bad"]]
    out.append("<details><summary>Answers from the text that miss or contradict "
               f"({len(misses)})</summary>\n")
    for r in misses:
        calls = "; ".join(f"{n}({a})" for n, a in r["answer"].calls)
        out.append(f"- {r['item'].question} → {r['answer'].text!r}"
                   + (f" [calls {calls}]" if calls else "")
                   + (f" [{', '.join(r['bad'])}]" if r["bad"] else ""))
    out.append("\n</details>")
    out += ["", "<details><summary>Answers to the held-out paraphrases "
            f"({held['hit']}/{held['n']} with a keyword)</summary>\n"]
    for r in held_rows:
        calls = "; ".join(f"{n}({a})" for n, a in r["answer"].calls)
        out.append(f"- {'hit' if r['hit'] else 'miss'}: {r['item'].question} → "
                   f"{r['answer'].text!r}" + (f" [calls {calls}]" if calls else "")
                   + (f" [{', '.join(r['bad'])}]" if r["bad"] else ""))
    out.append("\n</details>")
    return "\n".join(out)


def _write(label: str, block: str) -> None:
    start = f"<!-- bench_offline_eval:{label}:start -->"
    end = f"<!-- bench_offline_eval:{label}:end -->"
    text = DOCS.read_text()
    body = f"{start}\n{block}\n{end}"
    if start in text:
        text = text[:text.index(start)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n{body}\n"
    DOCS.write_text(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current")
    parser.add_argument("--stt", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--answer-stt", default=None)
    parser.add_argument("--hotwords", action="store_true")
    parser.add_argument("--greetings", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--text-only", action="store_true",
                        help="no voices, no STT: answers from the text only")
    a = parser.parse_args()
    a.answer_stt = None if a.text_only else a.answer_stt or a.stt[-1]
    report = asyncio.run(main(a))
    print(report)
    if not a.no_write:
        _write(a.label, report)
