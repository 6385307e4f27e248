"""The live-view cost bench runs end to end (tiny counts: a check that it works, not a
measurement) and writes its section before the appendix, then in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = str(ROOT / "bench" / "bench_inspect.py")


def test_smoke_measures_and_writes_its_section(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## bench_x\n\nx\n\n## Appendix: run notes\n\nnotes\n")
    for _ in range(2):  # the second run replaces the first one's section
        proc = subprocess.run([sys.executable, BENCH, "--rounds", "1", "--seconds", "3",
                               "--reports", "5", "--write", "--docs", str(docs)],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
    text = docs.read_text()
    assert text.count("<!-- bench_inspect:start -->") == 1
    assert text.index("## bench_x") < text.index("<!-- bench_inspect:end -->") < text.index(
        "## Appendix")
    for row in ("| off |", "| counting |", "| counting and timing |"):
        assert row in text
    assert "the first carries the graph's spec" in text
    assert text.endswith("notes\n")
