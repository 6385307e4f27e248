"""Side by side: ``bench_voice``'s turn overhead of two source trees, interleaved in one run.

A change to the framework is judged against the code before it on the same machine at the same
moment: this runs ``bench/bench_voice.py``'s turn-overhead measure from tree A, then from tree
B, then A again, ... (each round in a fresh process with that tree first on the path), so both
see the same load. It prints each round's median and the median of the rounds per tree, and the
ratio B / A. Typical use, with a worktree of the commit before a change::

    git worktree add /tmp/before <commit>
    flock /tmp/bench.lock python bench/bench_side_by_side.py /tmp/before . --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_PROBE = """
import asyncio, json, runpy, statistics, sys
bench = runpy.run_path(sys.argv[1] + "/bench/bench_voice.py", run_name="bench_voice")
overhead, _ = asyncio.run(bench["turn_overhead"](int(sys.argv[2])))
print(json.dumps({"median": statistics.median(overhead), "turns": len(overhead)}))
"""


def measure(tree: Path, turns: int) -> float:
    """The median turn overhead (seconds) of ``turns`` turns, measured from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _PROBE, str(tree), str(turns)], env=env,
                          capture_output=True, text=True, check=True, cwd=tree)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["median"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="the tree to compare against (before)")
    ap.add_argument("b", type=Path, help="the tree measured (after)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--turns", type=int, default=50)
    args = ap.parse_args()
    a, b = args.a.resolve(), args.b.resolve()
    results: dict[Path, list[float]] = {a: [], b: []}
    for i in range(args.rounds):
        for tree in (a, b) if i % 2 == 0 else (b, a):
            results[tree].append(measure(tree, args.turns))
        print(f"round {i + 1}: A {results[a][-1] * 1e3:.3f} ms, B {results[b][-1] * 1e3:.3f} ms",
              flush=True)
    med_a, med_b = statistics.median(results[a]), statistics.median(results[b])
    print(f"A {a}: median of {args.rounds} rounds {med_a * 1e3:.3f} ms")
    print(f"B {b}: median of {args.rounds} rounds {med_b * 1e3:.3f} ms")
    print(f"B / A = {med_b / med_a:.3f}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
