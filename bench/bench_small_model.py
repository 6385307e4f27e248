"""What the small model's reply rules cost: greetings picked among sampled candidates, and the
ban on markup tokens, each side by side with the plain way, in one process, interleaved.

- greeting: the weather agent's greeting (``GREETING`` as extra instructions) with
  ``opening_candidates=5`` (the default: sample until one fits its instructions) against
  ``opening_candidates=1`` (one sample, streamed): the time to the greeting's first text and
  to its end, and how many candidates were sampled;
- answer: a question answered as text with the markup ban (the default) and without it: time
  to the first token and tokens per second.

Timings: run it under the bench lock. ``--model PATH`` runs the answer part on another GGUF
(first token and tokens per second of a candidate model, against SmolLM2-135M).

    flock /tmp/bench.lock python bench/bench_small_model.py [--runs 8] [--model PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from flowagents.llm import ChatContext  # noqa: E402
from flowagents.plugins.llama import LlamaLLM  # noqa: E402

QUESTION = "What is the capital of France?"


async def _timed(llm: LlamaLLM, ctx: ChatContext, tools: list[Any]) -> tuple[float, float, int]:
    """Seconds to the first text, seconds to the end, completion tokens."""
    t0 = time.perf_counter()
    first = None
    tokens = 0
    async for chunk in llm.chat(chat_ctx=ctx, tools=tools):
        if chunk.delta and first is None:
            first = time.perf_counter() - t0
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    end = time.perf_counter() - t0
    return (first if first is not None else end), end, tokens


async def main(args: argparse.Namespace) -> None:
    import weather

    agent = weather.WeatherAgent()
    tools = list(agent.tools)
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, runs {args.runs}")
    if args.model is None:
        picked = LlamaLLM()
        single = LlamaLLM(opening_candidates=1)
        greet = ChatContext()
        greet.add_message(role="system", content=agent.instructions)
        greet.add_message(role="system", content=weather.GREETING)
        rows: dict[str, list[tuple[float, float, int]]] = {"best of 5": [], "one sample": []}
        for _ in range(args.runs):
            for name, llm in (("best of 5", picked), ("one sample", single)):
                rows[name].append(await _timed(llm, greet, tools))
        for name, got in rows.items():
            print(f"greeting, {name}: first text p50 {statistics.median(r[0] for r in got):.2f} s,"
                  f" end p50 {statistics.median(r[1] for r in got):.2f} s")
        await single.aclose()
        plain = LlamaLLM()
        plain._markup = np.array([], dtype=np.intc)  # the ban off: nothing is banned
        answers = {"markup banned": picked, "no ban": plain}
    else:
        answers = {"SmolLM2-135M": LlamaLLM(),
                   Path(args.model).name: LlamaLLM(model_path=args.model)}
    ask = ChatContext()
    ask.add_message(role="system", content=agent.instructions)
    ask.add_message(role="user", content=QUESTION)
    for llm in answers.values():
        await _timed(llm, ask, [])  # first-call set-up
    results: dict[str, list[tuple[float, float, int]]] = {n: [] for n in answers}
    for _ in range(args.runs):
        for name, llm in answers.items():
            llm._llama.reset()  # the whole prompt read each time (no KV cache reuse)
            results[name].append(await _timed(llm, ask, []))
    for name, got in results.items():
        rate = statistics.median(r[2] / max(r[1] - r[0], 1e-9) for r in got if r[2] > 1)
        print(f"answer, {name}: first token p50 {statistics.median(r[0] for r in got):.3f} s, "
              f"{rate:.0f} tokens/s")
    for llm in answers.values():
        await llm.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--model", default=None)
    asyncio.run(main(parser.parse_args()))
