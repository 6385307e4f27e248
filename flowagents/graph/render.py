"""Pictures of graphs: DOT text and SVG, laid out in-process by pygraphviz (it bundles Graphviz).

The picture is drawn from the same structure that runs, so it cannot drift from the code. A
node is a table: its input ports on top, its name, class and config summary in the middle (and
the values in force of the options its rule reads, :attr:`Node.reads`, taken from the node that
provides them), its output ports at the bottom. Edges go port to port, labelled by meaning (the
``doc`` of the input port they feed, else of the output port, else the stream type). A port
that feeds three consumers or more fans out through one point, so a stream read by many rules is
one line until it splits. Nodes of the library are grouped in a cluster per stage (the package
under ``nodes/``: audio, turn, reply). A subgraph is a cluster holding its own nodes, and edges
into and out of it end at its input and output nodes. A feedback edge is drawn where it is read:
a dashed box naming the producing port sits above its consumers, so no edge climbs back up the
picture. The graph need not be valid: drawing a broken graph is how one finds what
is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from html import escape
from typing import Any

import networkx as nx

from .errors import GraphValidationError
from .graph import Edge, Graph, GraphInput, GraphOutput, Subgraph
from .node import Node
from .ports import PortDecl, PortRef, type_name

__all__ = ["IMAGE_FORMATS", "dot_id", "dot_to_svg", "to_dot", "to_image", "to_svg"]

_COLORS = {  # kind -> (fill, line)
    "source": ("#e4f4e1", "#3d8b37"),
    "sink": ("#fdebd9", "#b8651b"),
    "operator": ("#eaf1fb", "#3f6aa5"),
    "provider": ("#f2e6fa", "#7a45a0"),
    "subgraph": ("#f6f6f6", "#8a8a8a"),
}
_FONT = "Helvetica"
_FAN_OUT = 3  # consumers from which a port's edges split at a point
_STAGES = {"audio": "hearing (audio)", "turn": "turn-taking", "reply": "replying",
           "ops": "stream operators"}


def to_dot(graph: Graph) -> str:
    """The graph in Graphviz's DOT language."""
    return str(_agraph(graph).to_string())


def to_svg(graph: Graph) -> str:
    """The graph laid out by ``dot`` as an SVG document."""
    return bytes(_agraph(graph).draw(format="svg", prog="dot")).decode()


def dot_to_svg(dot: str) -> str:
    """DOT text from :func:`to_dot` (written where the graph runs, say in a job process) laid
    out by ``dot`` as an SVG document, wherever the picture is wanted."""
    import pygraphviz as pgv

    return bytes(pgv.AGraph(string=dot).draw(format="svg", prog="dot")).decode()


IMAGE_FORMATS = ("svg", "png", "pdf")


def to_image(graph: Graph, format: str) -> bytes:  # noqa: A002 (Graphviz's word)
    """The graph laid out by ``dot`` as an image file's bytes: one of :data:`IMAGE_FORMATS`."""
    if format not in IMAGE_FORMATS:
        raise ValueError(f"cannot draw {format!r}: one of {', '.join(IMAGE_FORMATS)}")
    return bytes(_agraph(graph).draw(format=format, prog="dot"))


def dot_id(path: str) -> str:
    """The DOT ID of a node path (``sub/node``), unique per path and valid in DOT and in SVG.

    What DOT cannot hold (backslash, quote, control characters; and ``&`` itself) is written as
    an XML character reference, which the SVG shows as the character itself; a character XML
    cannot hold either is written ``&#xFFFD;`` and its code. (Graphviz reserves IDs that start
    with ``%``; this never writes one.)"""
    text = "".join(_id_char(c) for c in path)
    return "&#37;" + text[1:] if text.startswith("%") else text


def _id_char(c: str) -> str:
    if c.isprintable() and c not in '\\"&':
        return c
    code = ord(c)
    if c in "\t\n\r" or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code > 0xFFFF:
        return f"&#x{code:X};"
    return f"&#xFFFD;{code:X};"


def _text(text: str) -> str:
    """Text for an HTML-like label: escaped, control characters shown as Python escapes."""
    return escape("".join(c if c.isprintable() else c.encode("unicode_escape").decode()
                          for c in text))


def _agraph(graph: Graph) -> Any:
    import pygraphviz as pgv  # bundles Graphviz; loaded when a picture is drawn

    root = pgv.AGraph(directed=True, strict=False, name=dot_id(graph.name), rankdir="TB",
                      label=f"<{_text(graph.name)}>", labelloc="t", fontname=_FONT, nodesep="0.3",
                      newrank="true")
    root.node_attr.update(shape="plain", fontname=_FONT, fontsize="10")
    root.edge_attr.update(fontname=_FONT, fontsize="8", color="#555555", arrowsize="0.6",
                          fontcolor="#333333")
    options: dict[str, Any] = {}
    for node in _all_nodes(graph):
        options.update(node.options_in_force())
    _draw(graph, root, root, "", options)
    return root


def _all_nodes(graph: Graph) -> Iterator[Node]:
    for node in graph:
        if isinstance(node, Subgraph):
            yield from _all_nodes(node.graph)
        else:
            yield node


def _stage(node: Node) -> str | None:
    """The stage of a library node: its package under ``nodes/``."""
    parts = type(node).__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "nodes" else None


def _draw(graph: Graph, root: Any, container: Any, prefix: str,
          options: Mapping[str, Any]) -> None:
    try:
        order = graph.topological_order()
    except nx.NetworkXUnfeasible:  # a cycle without feedback: still draw it
        order = [node.name or "" for node in graph]
    stages = {_stage(graph.node(n)) for n in order} - {None, "ops"}
    clusters: dict[str, Any] = {}
    for name in order:
        node = graph.node(name)
        if isinstance(node, Subgraph):
            fill, line = _COLORS["subgraph"]
            inner = "" if node.graph.name == name else f"  <I>{_text(node.graph.name)}</I>"
            cluster = container.add_subgraph(
                name=dot_id(f"cluster_{prefix}{name}"), style="rounded,filled", fillcolor=fill,
                color=line, label=f"<<B>{_text(name)}</B>{inner}>")
            _draw(node.graph, root, cluster, f"{prefix}{name}/", options)
            continue
        place = container
        stage = _stage(node)
        if stage is not None and stage != "ops" and len(stages) > 1:
            place = clusters.get(stage)
            if place is None:
                place = clusters[stage] = container.add_subgraph(
                    name=dot_id(f"cluster_{prefix}stage_{stage}"), style="rounded,dashed",
                    color="#b0b0b0", fontcolor="#707070", labeljust="l",
                    label=f"<<I>{_text(_STAGES.get(stage, stage))}</I>>")
        place.add_node(dot_id(prefix + name), label=_label(node, options))
    outputs = [dot_id(prefix + n) for n in order if isinstance(graph.node(n), GraphOutput)]
    if outputs:
        container.add_subgraph(outputs, name=dot_id(f"{prefix}~outputs"), rank="sink")
    fans: dict[tuple[PortRef, bool], list[Edge]] = {}
    for edge in graph.edges():
        fans.setdefault((edge.source, edge.feedback), []).append(edge)
    for (source, feedback), edges in fans.items():
        tail, tailport = _end(graph, source, prefix, "o")
        stream = _stream(graph.node(source.node), source.port)
        style: dict[str, str] = {}
        if feedback:
            # drawn where it is read: a dashed copy of the producing port above its consumers,
            # so no edge climbs back through the picture
            tail, tailport = dot_id(f"{prefix}{source.node}.{source.port}~feedback"), ""
            root.add_node(tail, label=_feedback_label(graph, source, stream))
            style = {"style": "dashed"}
        elif graph.node(source.node).kind == "source" and not isinstance(
                graph.node(source.node), GraphInput):
            style = {"color": "#8fa88c", "fontcolor": "#5f7a5b"}  # options, not data
        fan = len(edges) >= _FAN_OUT
        if fan:  # one line to a point, then one per consumer
            point = dot_id(f"{prefix}{source.node}.{source.port}")
            root.add_node(point, shape="point", width="0.06", color="#555555", label="")
            root.add_edge(tail, point, tailport=tailport, arrowhead="none",
                          label=_meaning(graph, source, "o") or stream, **style)
            tail, tailport = point, ""
        for edge in edges:
            head, headport = _end(graph, edge.target, prefix, "i")
            label = _meaning(graph, edge.target, "i") or (
                "" if fan else _meaning(graph, source, "o") or stream)
            root.add_edge(tail, head, tailport=tailport, headport=headport, label=label, **style)


def _feedback_label(graph: Graph, source: PortRef, stream: str) -> str:
    what = _meaning(graph, source, "o") or stream
    return (f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" STYLE="dashed" '
            f'COLOR="#777777"><TR><TD><FONT POINT-SIZE="8">{_text(what)}<BR/>'
            f"<I>fed back from {_text(source.node)}.{_text(source.port)}</I></FONT></TD></TR>"
            f"</TABLE>>")


def _meaning(graph: Graph, ref: PortRef, side: str) -> str:
    """What a port carries, in words: its ``doc`` (empty when it has none)."""
    node = graph.node(ref.node)
    if isinstance(node, Subgraph | GraphInput | GraphOutput):
        return ""
    return next((d.doc for d in _ports(node, side) if d.name == ref.port), "")


def _end(graph: Graph, ref: PortRef, prefix: str, side: str) -> tuple[str, str]:
    """The DOT node and port where an edge ends: a port cell, or a subgraph's inner node."""
    node, compass = graph.node(ref.node), "s" if side == "o" else "n"
    if isinstance(node, Subgraph):
        return dot_id(f"{prefix}{ref.node}/{ref.port}"), compass
    ports = _ports(node, side)
    if isinstance(node, GraphInput | GraphOutput) or ref.port not in {p.name for p in ports}:
        return dot_id(prefix + ref.node), compass
    return dot_id(prefix + ref.node), f"{dot_id(f'{side}_{ref.port}')}:{compass}"


def _ports(node: Node, side: str) -> tuple[PortDecl, ...]:
    try:
        return node.output_ports() if side == "o" else node.input_ports()
    except GraphValidationError:  # a stream type that does not resolve
        return ()


def _stream(node: Node, port: str) -> str:
    try:
        return type_name(node.output_port(port).type).rpartition(":")[2]
    except GraphValidationError:
        return "?"


def _label(node: Node, options: Mapping[str, Any]) -> str:
    fill, line = _COLORS.get(node.kind, _COLORS["operator"])
    if isinstance(node, GraphInput | GraphOutput):
        text = f"<B>{_text(node.name or '')}</B><BR/>{_text(getattr(node.config, 'type', ''))}"
        rows = [f"<TR><TD>{text}</TD></TR>"]
    else:
        text = (f"<B>{_text(node.name or '')}</B><BR/>"
                f'<FONT POINT-SIZE="8">{_text(type(node).__name__)}</FONT>')
        if summary := node.summary():
            text += f'<BR/><FONT POINT-SIZE="8"><I>{_text(summary)}</I></FONT>'
        for name in node.reads:
            if name in options:
                text += (f'<BR/><FONT POINT-SIZE="8" COLOR="#8a3b12">'
                         f"{_text(name)} = {_text(_short_value(options[name]))}</FONT>")
        rows = [_port_row(_ports(node, "i"), "i"), f"<TR><TD>{text}</TD></TR>",
                _port_row(_ports(node, "o"), "o")]
    return (f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
            f'STYLE="rounded" BGCOLOR="{fill}" COLOR="{line}">{"".join(rows)}</TABLE>>')


def _short_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool | int | float | str):
        return str(value)
    return type(value).__name__


def _port_row(ports: tuple[PortDecl, ...], side: str) -> str:
    if not ports:
        return ""
    cells = "".join(
        f'<TD PORT="{escape(dot_id(f"{side}_{p.name}"))}" BORDER="1" BGCOLOR="white">'
        f'<FONT POINT-SIZE="8">{_text(p.name)}</FONT></TD>' for p in ports)
    return (f'<TR><TD><TABLE BORDER="0" CELLSPACING="3" CELLPADDING="2"><TR>{cells}</TR>'
            f"</TABLE></TD></TR>")


Graph.svg_renderer = to_svg
