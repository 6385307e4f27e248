"""Import time of ``flowagents`` and of the LiveKit-style namespace ``flowagents.agents``.

The goal: both stay under 0.3 s, so an agent file's ``--help``, a worker's start and a test
collection pay nothing for the names they do not use (``flowagents.agents`` loads its names on
first use). Each figure is a fresh interpreter (``python -X importtime -c "import M"``, the
module's cumulative time as the interpreter reports it, and the wall time of the whole process
beside the bare interpreter's), ``--runs`` times, interleaved, with the median reported; the
first name a user reads (``agents.AgentSession``, which loads the session and the voice graph)
is measured too, to show what the laziness defers. Run under the bench lock:
``flock /tmp/bench.lock python bench/bench_import.py --runs 15 --write``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.3  # seconds

CASES = {
    "bare interpreter": "pass",
    "import flowagents": "import flowagents",
    "import flowagents.agents": "import flowagents.agents",
    "from flowagents import agents; agents.AgentSession":
        "from flowagents import agents; agents.AgentSession",
}
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _top_level(stderr: str) -> list[tuple[str, int]]:
    """(module, cumulative microseconds) of the imports made at the top level of the process."""
    return [(m.group(4), int(m.group(2))) for m in map(_LINE.match, stderr.splitlines())
            if m is not None and not m.group(3)]


def measure(code: str, startup: frozenset[str]) -> tuple[float, float]:
    """(cumulative import time of what the statement imported, wall time of the process), in
    seconds. The interpreter's own start-up imports (``site``, ``encodings``, the ``startup``
    set) are not the statement's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    us = sum(t for name, t in _top_level(out.stderr) if name not in startup)
    return us / 1e6, wall


def startup_modules() -> frozenset[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, check=True)
    return frozenset(name for name, _ in _top_level(out.stderr))


def run(runs: int) -> dict[str, dict[str, float]]:
    startup = startup_modules()
    for code in CASES.values():  # warm the bytecode caches once
        measure(code, startup)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, code in CASES.items():  # interleaved: drift hits every case alike
            samples[name].append(measure(code, startup))
    return {name: {"import_s": statistics.median(s[0] for s in values),
                   "wall_s": statistics.median(s[1] for s in values),
                   "import_max_s": max(s[0] for s in values)}
            for name, values in samples.items()}


def write(results: dict[str, dict[str, float]], runs: int, load: tuple[float, ...]) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    bare = results["bare interpreter"]["wall_s"]
    rows = []
    for name, r in results.items():
        if name == "bare interpreter":
            continue
        rows.append(f"| `{name}` | {r['import_s'] * 1000:.1f} | {r['import_max_s'] * 1000:.1f} "
                    f"| {r['wall_s'] * 1000:.0f} | {(r['wall_s'] - bare) * 1000:.0f} |")
    ok = all(results[n]["import_s"] < GOAL for n in ("import flowagents",
                                                     "import flowagents.agents"))
    loads = ", ".join(f"{x:.2f}" for x in load)
    section = f"""<!-- bench_import:start -->
## Import time (`python bench/bench_import.py --runs {runs} --write`)

Goal: `import flowagents` and `import flowagents.agents` under {GOAL} s:
**{'met' if ok else 'NOT met'}**. Each figure is a fresh interpreter, {runs} runs interleaved,
medians. "import" is what the statement imported, as `python -X importtime` counts it
(cumulative, bytecode cached); "process" is the wall time of the whole `python -c`, beside a
bare interpreter ({bare * 1000:.0f} ms). Load average before the run: {loads} (2 shared cores;
run under `flock /tmp/bench.lock`).

| statement | import, median (ms) | import, max (ms) | process (ms) | over a bare interpreter (ms) |
|---|---|---|---|---|
{chr(10).join(rows)}

The namespace's names load on first use (a module `__getattr__`): reading
`agents.AgentSession` imports the session, the voice graph and its nodes, which the last row
shows; an agent file's `--help`, `download-files` or a worker's start-up never pays for names
it does not read.
<!-- bench_import:end -->"""
    start, end = "<!-- bench_import:start -->", "<!-- bench_import:end -->"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    load = os.getloadavg()
    results = run(args.runs)
    for name, r in results.items():
        print(f"{name:55s} import {r['import_s'] * 1000:7.1f} ms (max "
              f"{r['import_max_s'] * 1000:6.1f})  process {r['wall_s'] * 1000:6.0f} ms")
    print("load average before:", load, "after:", os.getloadavg())
    if args.write:
        write(results, args.runs, load)


if __name__ == "__main__":
    main()
