"""The LiveKit comparison runs end to end (tiny counts: a check that it works, not a measurement).

It installs livekit-agents into its own venv from PyPI on the first run (cached after), drives
both frameworks and rewrites its section of a copy of docs/benchmarks.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    "end of user speech -> first agent audio, median of 3 turns",
    "same, p99",
    "idle session CPU (one core), fake VAD, hiss at -60 dBFS",
    "idle session CPU (one core), silero VAD, hiss at -60 dBFS",
    "idle session CPU (one core), silero VAD, **digital silence**",
    "import time",
    "RSS after import",
    "RSS per additional idle session",
    "idle sessions one core holds before frames run late",
    "wall time of a 4-turn scripted conversation in the test harness",
]


def test_smoke_rewrites_its_section(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nbefore\n\n<!-- vs_livekit:start -->\nSTALE-FIGURES\n"
                    "<!-- vs_livekit:end -->\n\nafter\n")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "vs_livekit.py"), "--smoke",
                           "--docs", str(docs)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n\n<!-- vs_livekit:start -->\n## flowagents")
    assert text.endswith("<!-- vs_livekit:end -->\n\nafter\n")
    assert "STALE-FIGURES" not in text
    table = [line for line in text.splitlines() if line.startswith("| ")][1:]  # no header
    assert len(table) == len(ROWS)
    for line, name in zip(table, ROWS, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0].startswith(name)
        assert cells[4] in ("ok", "**above the goal**")
    # the measured figures are numbers; both sides played all 3 turns and the 4 replies
    lat = table[0].split("|")
    assert re.fullmatch(r" \d+\.\d{3} ms ", lat[2])
    assert re.fullmatch(r" \d+\.\d{3} ms ", lat[3])
    assert float(table[0].split("|")[4]) > 0
    assert "fewer turns than scripted" not in text
    assert "replies of 4" not in text
    assert "Load during the run: load average" in text


def test_only_some_measures_prints_their_rows_and_leaves_the_section(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    original = "# Benchmarks\n\n<!-- vs_livekit:start -->\nFULL-RUN\n<!-- vs_livekit:end -->\n"
    docs.write_text(original)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "vs_livekit.py"), "--smoke",
                           "--only", "rss-session", "--docs", str(docs)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    assert [line.split("|")[1].strip() for line in table] == [
        "RSS per additional idle session (2 more)"]
    assert docs.read_text() == original  # a partial run does not rewrite the section
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "vs_livekit.py"), "--smoke",
                          "--only", "rss", "--docs", str(docs)],
                         capture_output=True, text=True, timeout=900)
    assert bad.returncode != 0
    assert "unknown measure(s) ['rss']" in bad.stderr
