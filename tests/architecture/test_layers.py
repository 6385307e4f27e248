"""The layers of DESIGN.md, checked on every import in flowagents/, nodes/ and graphs/.

From the bottom up: data types; graph and runtime; provider interfaces and the voice vocabulary;
plugins; nodes; graphs; AgentSession; room I/O and job; worker; CLI. An import never runs upward
and no modules import each other in a circle. Every import counts, including those under
``TYPE_CHECKING`` and inside functions: a circle of names is a circle of ideas.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("flowagents", "nodes", "graphs")

#: Each layer and the module prefixes in it (the longest matching prefix wins).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("data types", ("flowagents.types", "flowagents.errors", "flowagents.events",
                    "flowagents.callbacks")),
    ("graph and runtime", ("flowagents.graph", "flowagents.runtime")),
    ("interfaces and vocabulary", (
        "flowagents.llm", "flowagents.stt", "flowagents.tts", "flowagents.vad",
        "flowagents.tokenize", "flowagents.metrics", "flowagents.telemetry", "flowagents.retry",
        "flowagents.voice")),
    # the testing kit's fakes are providers like any plugin; its simulator runs a session
    ("plugins", ("flowagents.plugins", "flowagents.testing.fakes", "flowagents.testing.script",
                 "flowagents.testing.audio", "flowagents.testing.turn_detector")),
    ("nodes", ("nodes",)),
    ("graphs", ("graphs",)),
    ("session", ("flowagents.session",)),
    # the IPC messages are the job's own data, which the worker carries
    ("room I/O and job", ("flowagents.job", "flowagents.ipc.messages", "flowagents.testing")),
    ("worker", ("flowagents.ipc", "flowagents.worker")),
    # the package root and the LiveKit-style namespace re-export from every layer
    ("CLI and public namespaces", ("flowagents.cli", "flowagents", "flowagents.agents")),
]


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from a import b`` counts ``a.b`` when it is a
    module, else ``a``)."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                          for a in node.names]
        else:
            continue
        for target in candidates:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


def import_graph() -> nx.DiGraph:
    known = modules()
    graph = nx.DiGraph()
    for name, path in known.items():
        graph.add_node(name)
        for target in imports_of(name, path, known):
            graph.add_edge(name, target)
    return graph


def test_every_module_has_a_layer() -> None:
    unmapped = [m for m in modules() if layer_of(m) is None]
    assert unmapped == []


def test_no_import_runs_upward() -> None:
    graph = import_graph()
    upward = []
    for source, target in graph.edges:
        low, high = layer_of(source), layer_of(target)
        assert low is not None
        assert high is not None
        if high > low:
            upward.append(f"{source} ({LAYERS[low][0]}) imports {target} ({LAYERS[high][0]})")
    assert upward == []


def test_no_import_circles() -> None:
    graph = import_graph()
    # a package imports its own modules to re-export them; the package itself is no module of
    # the circle (importing ``pkg.mod`` runs ``pkg/__init__`` first, as the interpreter does)
    packages = {m for m, p in modules().items() if p.name == "__init__.py"}
    graph.remove_nodes_from(packages)
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert circles == []


def test_nodes_never_import_the_session_or_a_plugin() -> None:
    graph = import_graph()
    bad = [(s, t) for s, t in graph.edges if s.startswith("nodes.")
           and t.startswith(("flowagents.session", "flowagents.plugins"))]
    assert bad == []


@pytest.mark.parametrize("module", ["flowagents.voice.agent", "nodes.turn.endpointing"])
def test_the_check_sees_type_checking_imports(module: str) -> None:
    """A guard against a check that cannot fail: these modules do import something."""
    assert set(import_graph().successors(module))
