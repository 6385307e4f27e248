"""Pictures of graphs: DOT text and SVG, laid out in-process by pygraphviz (it bundles Graphviz).

The picture is drawn from the same structure that runs, so it cannot drift from the code. A
node is a table: its input ports on top, its name, class and config summary in the middle, its
output ports at the bottom; edges go port to port, labelled with the stream type. A subgraph is
a cluster holding its own nodes, and edges into and out of it end at its input and output
nodes. Feedback edges are dashed and do not constrain the layout. The graph need not be valid:
drawing a broken graph is how one finds what is wrong with it.
"""

from __future__ import annotations

from html import escape
from typing import Any

import networkx as nx

from .errors import GraphValidationError
from .graph import Graph, GraphInput, GraphOutput, Subgraph
from .node import Node
from .ports import PortDecl, PortRef, type_name

__all__ = ["IMAGE_FORMATS", "dot_id", "to_dot", "to_image", "to_svg"]

_COLORS = {  # kind -> (fill, line)
    "source": ("#e4f4e1", "#3d8b37"),
    "sink": ("#fdebd9", "#b8651b"),
    "operator": ("#eaf1fb", "#3f6aa5"),
    "provider": ("#f2e6fa", "#7a45a0"),
    "subgraph": ("#f6f6f6", "#8a8a8a"),
}
_FONT = "Helvetica"


def to_dot(graph: Graph) -> str:
    """The graph in Graphviz's DOT language."""
    return str(_agraph(graph).to_string())


def to_svg(graph: Graph) -> str:
    """The graph laid out by ``dot`` as an SVG document."""
    return bytes(_agraph(graph).draw(format="svg", prog="dot")).decode()


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
                      label=f"<{_text(graph.name)}>", labelloc="t", fontname=_FONT, nodesep="0.3")
    root.node_attr.update(shape="plain", fontname=_FONT, fontsize="10")
    root.edge_attr.update(fontname=_FONT, fontsize="8", color="#555555", arrowsize="0.6")
    _draw(graph, root, root, "")
    return root


def _draw(graph: Graph, root: Any, container: Any, prefix: str) -> None:
    try:
        order = graph.topological_order()
    except nx.NetworkXUnfeasible:  # a cycle without feedback: still draw it
        order = [node.name or "" for node in graph]
    for name in order:
        node = graph.node(name)
        if isinstance(node, Subgraph):
            fill, line = _COLORS["subgraph"]
            inner = "" if node.graph.name == name else f"  <I>{_text(node.graph.name)}</I>"
            cluster = container.add_subgraph(
                name=dot_id(f"cluster_{prefix}{name}"), style="rounded,filled", fillcolor=fill,
                color=line, label=f"<<B>{_text(name)}</B>{inner}>")
            _draw(node.graph, root, cluster, f"{prefix}{name}/")
        else:
            container.add_node(dot_id(prefix + name), label=_label(node))
    for edge in graph.edges():
        tail, tailport = _end(graph, edge.source, prefix, "o")
        head, headport = _end(graph, edge.target, prefix, "i")
        style = {"style": "dashed", "constraint": "false"} if edge.feedback else {}
        root.add_edge(tail, head, tailport=tailport, headport=headport,
                      label=_stream(graph.node(edge.source.node), edge.source.port), **style)


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


def _label(node: Node) -> str:
    fill, line = _COLORS.get(node.kind, _COLORS["operator"])
    if isinstance(node, GraphInput | GraphOutput):
        text = f"<B>{_text(node.name or '')}</B><BR/>{_text(getattr(node.config, 'type', ''))}"
        rows = [f"<TR><TD>{text}</TD></TR>"]
    else:
        text = (f"<B>{_text(node.name or '')}</B><BR/>"
                f'<FONT POINT-SIZE="8">{_text(type(node).__name__)}</FONT>')
        if summary := node.summary():
            text += f'<BR/><FONT POINT-SIZE="8"><I>{_text(summary)}</I></FONT>'
        rows = [_port_row(_ports(node, "i"), "i"), f"<TR><TD>{text}</TD></TR>",
                _port_row(_ports(node, "o"), "o")]
    return (f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
            f'STYLE="rounded" BGCOLOR="{fill}" COLOR="{line}">{"".join(rows)}</TABLE>>')


def _port_row(ports: tuple[PortDecl, ...], side: str) -> str:
    if not ports:
        return ""
    cells = "".join(
        f'<TD PORT="{escape(dot_id(f"{side}_{p.name}"))}" BORDER="1" BGCOLOR="white">'
        f'<FONT POINT-SIZE="8">{_text(p.name)}</FONT></TD>' for p in ports)
    return (f'<TR><TD><TABLE BORDER="0" CELLSPACING="3" CELLPADDING="2"><TR>{cells}</TR>'
            f"</TABLE></TD></TR>")


Graph.svg_renderer = to_svg
