"""Running sessions does not load what only specs and pictures need (networkx, pygraphviz, YAML):
a process of sessions stays about 18 MiB smaller. The names load on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("networkx", "pygraphviz", "yaml", "flowagents.graph.render", "flowagents.graph.spec")

_PROBE = f"""
import sys
from flowagents.session import AgentSession
from flowagents.voice import Agent
from graphs.voice import voice_graph
g = voice_graph()
g.validate()
g.topological_order()
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
from flowagents.graph import graph_to_json, to_dot
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
print(to_dot.__module__, graph_to_json.__module__, '<svg' in g._repr_svg_())
"""


def test_a_session_graph_runs_without_the_spec_and_picture_libraries() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT),
                                                     "HF_HUB_OFFLINE": "1"}).stdout
    before, after, names = out.strip().splitlines()
    assert before == "[]"
    assert after == str(sorted(set(HEAVY) - {"pygraphviz"}))  # loaded to lay a picture out
    assert names == "flowagents.graph.render flowagents.graph.spec True"
