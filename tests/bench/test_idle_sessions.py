"""The idle-sessions bench runs end to end (tiny counts: a check that it works, not a
measurement): sessions on room inputs, the saved results, and its section of the docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = str(ROOT / "bench" / "bench_idle_sessions.py")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, BENCH, *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_smoke_measures_and_rewrites_its_section(tmp_path: Path) -> None:
    saved = tmp_path / "runs.jsonl"
    run("--sessions", "3", "--seconds", "0.5", "--label", "frozen", "--save", str(saved))
    run("--sessions", "3", "--seconds", "0.5", "--no-freeze", "--label", "plain",
        "--save", str(saved))
    frozen, plain = (json.loads(line) for line in saved.read_text().splitlines())
    for r in (frozen, plain):
        assert r["sessions"] == 3
        assert r["frames"] >= 3 * 20  # 0.5 s of 20 ms frames from each session's own stream
        assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["tracked_per_session"] > 100  # a whole voice graph each
        assert len(r["gc_count"]) == 3
    assert frozen["freeze"] is True
    assert plain["freeze"] is False
    # frozen, a full collection visits fewer objects than the sessions hold
    assert frozen["objects_traversed"] < plain["objects_traversed"]
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nbefore\n\n<!-- bench_idle_sessions:start -->\nSTALE\n"
                    "<!-- bench_idle_sessions:end -->\n\nafter\n")
    run("--from-json", str(saved), "--write", "--docs", str(docs))
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n\n<!-- bench_idle_sessions:start -->\n"
                           "## Idle voice sessions in one process")
    assert text.endswith("<!-- bench_idle_sessions:end -->\n\nafter\n")
    assert "STALE" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert [row.split("|")[1].strip() for row in rows] == ["frozen", "plain"]
    assert [row.split("|")[3].strip() for row in rows] == ["frozen", "not frozen"]
