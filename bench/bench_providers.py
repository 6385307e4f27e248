"""Benchmark of the hosted providers' own cost per streamed piece (a script, not a test).

What a provider adds on top of the bytes: parsing each SSE frame into a ``ChatChunk``
(``openai.LLM``), and decoding each base64 PCM message into an ``AudioFrame`` across odd byte
splits (``cartesia.TTS``). Each is measured against the local server of ``tests/providers`` on
loopback, in real time, beside a baseline that reads the same replies with bare aiohttp and does
nothing with them (same server, same loop, same requests), so the difference is the provider's
work. CPU time of the process (client and server share it) per piece, median over the runs.

    python bench/bench_providers.py [--runs 5] [--replies 20] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from providers.cartesia_server import CartesiaServer  # noqa: E402
from providers.openai_server import OpenAIServer, Reply  # noqa: E402

from flowagents.llm import ChatContext  # noqa: E402
from flowagents.plugins import cartesia, openai  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench_providers:start -->", "<!-- bench_providers:end -->"
WORDS = 500  # tokens of one LLM reply
TTS_WORDS = 100  # words of one TTS text: 100 x 0.1 s of 24 kHz audio in 1001-byte messages


async def _cpu(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    """Process CPU seconds spent by ``run()`` and the pieces it read."""
    start = time.process_time()
    pieces = await run()
    return time.process_time() - start, pieces


async def llm_pair(replies: int) -> tuple[float, float]:
    """µs of CPU per chunk: openai.LLM, and bare aiohttp reading the same streams."""
    server = OpenAIServer()
    text = " ".join(f"w{i}" for i in range(WORDS))
    async with server as url:
        llm = openai.LLM(base_url=url, api_key=server.api_key)
        ctx = ChatContext()
        ctx.add_message(role="user", content="go")

        async def ours() -> int:
            n = 0
            for _ in range(replies):
                server.replies.append(Reply(text=text))
                async for _chunk in llm.chat(chat_ctx=ctx):
                    n += 1
            return n

        async def bare() -> int:
            n = 0
            body = {"model": "m", "messages": [{"role": "user", "content": "go"}],
                    "stream": True}
            headers = {"Authorization": f"Bearer {server.api_key}"}
            async with aiohttp.ClientSession() as http:
                for _ in range(replies):
                    server.replies.append(Reply(text=text))
                    async with http.post(f"{url}/chat/completions", json=body,
                                         headers=headers) as resp:
                        async for line in resp.content:
                            n += line.startswith(b"data:")
            return n

        await ours()  # warm both paths (connections, imports)
        await bare()
        cpu_ours, chunks = await _cpu(ours)
        cpu_bare, frames = await _cpu(bare)
        await llm.aclose()
    return cpu_ours / chunks * 1e6, cpu_bare / frames * 1e6


async def tts_pair(replies: int) -> tuple[float, float]:
    """µs of CPU per audio message: cartesia.TTS, and a bare WebSocket reading them."""
    server = CartesiaServer(interval=0.0)
    text = " ".join(["word"] * TTS_WORDS)
    async with server as url:
        tts = cartesia.TTS(base_url=url, api_key=server.api_key)

        async def ours() -> int:
            n = 0
            for _ in range(replies):
                async for _chunk in tts.synthesize(text):
                    n += 1
            return n

        async def bare() -> int:
            n = 0
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    f"{url}/tts/websocket", headers={"X-API-Key": server.api_key}) as ws:
                for i in range(replies):
                    await ws.send_json(tts.request(f"bare{i}", text, more=False))
                    async for msg in ws:
                        n += 1
                        if '"done": true' in msg.data:
                            break
            return n

        await ours()
        await bare()
        cpu_ours, chunks = await _cpu(ours)
        cpu_bare, messages = await _cpu(bare)
        await tts.aclose()
    return cpu_ours / chunks * 1e6, cpu_bare / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replies", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    llm = [asyncio.run(llm_pair(args.replies)) for _ in range(args.runs)]
    tts = [asyncio.run(tts_pair(args.replies)) for _ in range(args.runs)]
    load = max(load, os.getloadavg()[0])

    def row(name: str, pairs: list[tuple[float, float]], piece: str) -> str:
        ours = statistics.median(p[0] for p in pairs)
        bare = statistics.median(p[1] for p in pairs)
        return (f"| {name} | {piece} | {ours:.1f} | {bare:.1f} | {ours - bare:.1f} | "
                f"{ours / bare:.2f} |")

    table = "\n".join([
        f"Python {platform.python_version()}, {args.runs} runs of {args.replies} replies, "
        f"load average up to {load:.2f} (2 cores); CPU of the whole process (client and local "
        "server) per piece, medians:",
        "",
        "| provider | piece | µs with the provider | µs bare aiohttp | provider's own µs | ratio |",
        "|---|---|---|---|---|---|",
        row(f"openai.LLM ({WORDS}-token replies)", llm, "SSE chunk"),
        row(f"cartesia.TTS ({TTS_WORDS}-word texts)", tts, "audio message"),
    ])
    print(table)
    if args.write:
        text = DOCS.read_text(encoding="utf-8")
        block = (f"{START}\n## Hosted providers (`python bench/bench_providers.py --write`)\n\n"
                 f"{table}\n{END}")
        if START in text:
            head, rest = text.split(START, 1)
            text = head + block + rest.split(END, 1)[1]
        else:
            marker = "## Appendix"
            head, sep, tail = text.partition(marker)
            text = head + block + "\n\n" + sep + tail if sep else text + "\n" + block + "\n"
        DOCS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
