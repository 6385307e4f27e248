"""Rendering: `flowagents graph render` writes an SVG that shows every node of the graph, inner
nodes of subgraphs included; feedback edges are dashed; names are escaped, never interpreted."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pygraphviz as pgv
import pytest
from typer.testing import CliRunner

from flowagents.cli.main import app
from flowagents.graph import Edge, Graph, In, Node, Out, Subgraph
from flowagents.graph.render import dot_id, to_dot, to_svg
from graphs.example import example_graph

SVG = "{http://www.w3.org/2000/svg}"


def leaves(graph: Graph, path: str = "") -> Iterator[str]:
    """The path of every drawn node: subgraphs are clusters, their inner nodes are drawn."""
    for node in graph:
        if isinstance(node, Subgraph):
            yield from leaves(node.graph, f"{path}{node.name}/")
        else:
            yield f"{path}{node.name}"


def all_edges(graph: Graph, path: str = "") -> Iterator[tuple[str, Edge]]:
    """Every edge of the graph and of its subgraphs, with the path of the graph holding it."""
    for node in graph:
        if isinstance(node, Subgraph):
            yield from all_edges(node.graph, f"{path}{node.name}/")
    for edge in graph.edges():
        yield path, edge


def node_titles(svg: str) -> dict[str, str]:
    """SVG node group title -> all the text drawn inside that node."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    found = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find(f"{SVG}title")
            assert title is not None
            assert title.text is not None
            found[title.text] = " ".join(t.text or "" for t in group.iter(f"{SVG}text"))
    return found


def check_example_svg(svg: str) -> None:
    graph = example_graph()
    titles = node_titles(svg)
    expected = set(leaves(graph))
    assert len(expected) >= 25  # the front end and the whole voice pipeline, drawn inside
    assert expected <= set(titles)
    for path in expected:
        assert path.rpartition("/")[2] in titles[path].split()
    # the rest are fan-out points (``node.port``) and fed-back ports drawn where they are read
    for extra in set(titles) - expected:
        node, _, port = extra.removesuffix("~feedback").rpartition(".")
        assert node in expected, extra
        if extra.endswith("~feedback"):
            assert "fed back from" in titles[extra]
    clusters = {g.findtext(f"{SVG}title") for g in ET.fromstring(svg).iter(f"{SVG}g")
                if g.get("class") == "cluster"}
    assert {"cluster_front_end", "cluster_voice"} <= clusters
    # the voice pipeline's nodes are grouped by stage
    assert {"cluster_voice/stage_audio", "cluster_voice/stage_turn",
            "cluster_voice/stage_reply"} <= clusters


def test_cli_render_writes_an_svg_with_every_node(tmp_path: Path) -> None:
    out = tmp_path / "out.svg"
    result = CliRunner().invoke(
        app, ["graph", "render", "graphs.example:example_graph", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stderr
    check_example_svg(out.read_text(encoding="utf-8"))


def test_the_installed_entry_point_renders_the_example(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "flowagents"
    assert exe.exists(), "the package's console script is not installed in this environment"
    done = subprocess.run(
        [str(exe), "graph", "render", "graphs.example:example_graph", "-o", "out.svg"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    check_example_svg((tmp_path / "out.svg").read_text(encoding="utf-8"))


def test_feedback_edges_are_dashed_and_start_where_they_are_read() -> None:
    graph = example_graph()
    drawn = pgv.AGraph(string=to_dot(graph))
    dashed = [e for e in drawn.edges() if e.attr["style"] == "dashed"]
    feedback = [(path, e) for path, e in all_edges(graph) if e.feedback]
    assert len(feedback) >= 1
    # every fed-back port is a dashed box that names its producer; its edges reach each
    # consumer (through a fan-out point when there are three or more)
    reached = set()
    for e in dashed:
        tail = e[0]
        if not tail.endswith("~feedback"):
            (into,) = [d for d in dashed if d[1] == tail]
            tail = into[0]
        reached.add((tail, e[1]))
    assert {(f"{path}{e.source.node}.{e.source.port}~feedback", path + e.target.node)
            for path, e in feedback} <= reached
    assert not [e for e in dashed if e[0] in {path + f.source.node for path, f in feedback}]
    assert "fed back from playout.activity" in drawn.get_node(
        "voice/playout.activity~feedback").attr["label"]


def test_edges_go_port_to_port_and_into_subgraph_inputs() -> None:
    drawn = pgv.AGraph(string=to_dot(example_graph()))
    ends = {(e[0], e.attr["tailport"], e[1], e.attr["headport"]) for e in drawn.edges()}
    # the VAD's events fan out through one point
    assert ("voice/vad", "o_events:s", "voice/vad.events", "") in ends
    assert ("voice/vad.events", "", "voice/gate", "i_vad:n") in ends
    assert ("audio", "s", "front_end/audio", "n") in ends  # into the subgraph's input node
    assert ("front_end/conditioned", "s", "voice/audio", "n") in ends
    labels = {(e[0], e[1]): e.attr["label"] for e in drawn.edges()}
    # labelled by meaning: what the gate reads, what the endpointing reads
    assert labels["voice/vad.events", "voice/gate"] == "speech started / ended"
    assert labels["voice/vad.events", "voice/endpointing"] == "speech ended"
    assert labels["voice/endpointing", "voice/turn_filter"] == "turn committed"


def test_the_voice_graph_shows_the_thresholds_in_force() -> None:
    from flowagents.voice import SessionOptions
    from graphs.voice import voice_graph

    titles = node_titles(to_svg(voice_graph(options=SessionOptions(min_endpointing_delay=0.8,
                                                                   min_interruption_words=2))))
    assert "min_endpointing_delay = 0.8" in titles["endpointing"]
    assert "max_endpointing_delay = 3.0" in titles["endpointing"]
    assert "min_interruption_duration = 0.5" in titles["interruption"]
    assert "min_interruption_words = 2" in titles["interruption"]
    assert "min_interruption_words = 2" in titles["turn_filter"]
    assert "false_interruption_timeout = 2.0" in titles["false_interruption"]
    assert "allow_interruptions = True" in titles["turn_reply"]
    assert "pre_roll=0.5" in titles["gate"]
    assert "user_away_timeout=15.0" in titles["user_state"]


class Probe(Node):
    kind = "provider"
    inputs = (In("x<1>", int),)
    outputs = (Out("y&z", int),)


class Plain(Node):
    inputs = (In("x", int),)
    outputs = (Out("y", int),)


def test_names_are_escaped_not_interpreted() -> None:
    printable, control = '<b>&"q"\\ /', "bell\x07"
    with Graph("g & <h>") as g:
        x = Probe(name=printable)(g.input("in", int))
        Plain(name=control)(x)
    titles = node_titles(to_svg(g))
    assert set(titles) == {"in", printable, "bell\ufffd7;"}
    assert "<b>&" in titles[printable]
    assert "x<1>" in titles[printable]
    assert "y&z" in titles[printable]
    assert "bell\\x07" in titles["bell\ufffd7;"]
    assert len({dot_id(control), dot_id("bell\ufffd7;"), dot_id("bell&#xFFFD;7;")}) == 3


def test_node_kinds_are_styled_apart() -> None:
    with Graph("g") as g:
        x = g.input("in", int)
        Plain(name="p")(Probe(name="q")(x))
    drawn = pgv.AGraph(string=to_dot(g))
    colors = {n: drawn.get_node(n).attr["label"].split('BGCOLOR="')[1][:7] for n in drawn.nodes()}
    assert len({colors["in"], colors["p"], colors["q"]}) == 3


def test_a_broken_graph_still_renders() -> None:
    g = Graph("broken")
    g.add(Plain(), "a")
    g.add(Plain(), "b")
    g.connect("a.y", "b.x")
    g.connect("b.y", "a.x")  # a cycle without feedback
    g.connect("a.nope", "b.x")  # an unknown port, and b.x fed twice
    svg = to_svg(g)
    assert set(node_titles(svg)) == {"a", "b"}


@pytest.mark.parametrize("fmt", ["dot", "svg"])
def test_render_to_stdout(fmt: str) -> None:
    result = CliRunner().invoke(
        app, ["graph", "render", "graphs.example:example_graph", "--format", fmt])
    assert result.exit_code == 0, result.output
    head = "digraph phone_agent {" if fmt == "dot" else "<?xml"
    assert result.stdout.startswith(head)


def test_a_node_named_with_a_leading_percent_is_drawn() -> None:
    """Graphviz reserves IDs that start with '%' (its anonymous objects): such a name is escaped,
    so the node is still drawn under its own name (hypothesis found a node named '%')."""
    import pygraphviz as pgv

    from flowagents.graph import Graph
    from flowagents.graph.render import dot_id, to_dot

    with Graph("g") as g:
        x = g.input("%", int)
        g.output("%out", x)
    drawn = pgv.AGraph(string=to_dot(g))
    assert sorted(drawn.nodes()) == sorted([dot_id("%"), dot_id("%out")])
    assert "%" in to_svg(g)
