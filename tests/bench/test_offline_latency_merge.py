"""bench_offline_latency --merge: parts of one configuration (run with --select) join."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_offline_latency as bench  # noqa: E402


def part(path: Path, name: str, questions: list[str], total: float,
         load: tuple[float, float]) -> str:
    turns = [asdict(bench.Turn(q, False, 0.0, total=total)) for q in questions]
    path.write_text(json.dumps({"runs": {name: turns}, "loads": {name: [list(load)]}}))
    return str(path)


def test_parts_of_one_configuration_are_joined_with_each_parts_load(tmp_path: Path) -> None:
    a = part(tmp_path / "a.json", "local", ["What is two plus two?"], 0.5, (0.1, 0.2))
    b = part(tmp_path / "b.json", "local", ["Who are you?", "Name three colors."], 1.5,
             (0.3, 0.4))
    c = part(tmp_path / "c.json", "before", ["What is two plus two?"], 2.0, (0.5, 0.6))
    runs, loads = bench.merge([a, b, c])
    assert [(t.question, t.total) for t in runs["local"]] == [
        ("What is two plus two?", 0.5), ("Who are you?", 1.5), ("Name three colors.", 1.5)]
    assert loads == {"local": [(0.1, 0.2), (0.3, 0.4)], "before": [(0.5, 0.6)]}
    text = bench.table({"local": runs["local"]}, {"local": loads["local"]})
    assert "`local` 0.10 before, 0.20 after, then 0.30 before, 0.40 after (2 runs)" in text
    assert "3 questions of the evaluation set" in text
