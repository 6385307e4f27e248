"""Random graphs: valid ones validate and round-trip through specs unchanged; broken ones are
refused by an error that names exactly the culprit (a node and port, or a spec location).

Graphs are random DAGs of small test nodes with random configs, nested subgraphs and feedback
edges. Each mutation breaks one thing in one (possibly nested) graph or spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import networkx as nx
import pygraphviz as pgv
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flowagents.graph import (
    CycleError,
    DuplicateNodeError,
    Graph,
    GraphInput,
    GraphOutput,
    GraphValidationError,
    In,
    Node,
    NodeConfig,
    Out,
    OutPort,
    PortRef,
    RequiredInputError,
    SpecError,
    Subgraph,
    TypeMismatchError,
    UnknownPortError,
)
from flowagents.graph.render import dot_id, to_dot
from flowagents.graph.spec import (
    graph_from_spec,
    graph_to_spec,
    register_node,
    spec_from_json,
    spec_from_yaml,
    spec_to_json,
    spec_to_yaml,
)

# -- small test nodes ----------------------------------------------------------------------------


class PropMapConfig(NodeConfig):
    gain: float = 1.0
    label: str = ""
    enabled: bool = True
    mode: Literal["fast", "exact"] = "fast"
    taps: tuple[int, ...] = ()


@register_node
class PropMap(Node):
    Config = PropMapConfig
    inputs = (In("x", int),)
    outputs = (Out("y", int),)


class PropJoinConfig(NodeConfig):
    weights: dict[str, float] = {}


@register_node
class PropJoin(Node):
    Config = PropJoinConfig
    inputs = (In("a", int), In("b", int, required=False))
    outputs = (Out("y", int), Out("n", str))


class PropTextConfig(NodeConfig):
    prefix: str = ""
    limit: int | None = None


@register_node
class PropText(Node):
    Config = PropTextConfig
    inputs = (In("s", str),)
    outputs = (Out("t", str),)


@register_node
class PropLen(Node):
    inputs = (In("s", str),)
    outputs = (Out("n", int),)


TYPES: dict[type, str] = {int: "int", str: "str"}

# A config field that a bad value breaks, per node type (Subgraph and PropLen: an unknown key).
CORRUPTIONS: dict[str, list[tuple[str, Any]]] = {
    "PropMap": [("gain", "loud"), ("enabled", "maybe"), ("mode", "slow"), ("taps", "x")],
    "PropJoin": [("weights", [1])],
    "PropText": [("prefix", 5), ("limit", "many")],
    "PropLen": [("bogus", 1)],
    "Subgraph": [("bogus", 1)],
    "GraphInput": [("type", "NoSuchType")],
    "GraphOutput": [("type", "NoSuchType")],
}

# -- random valid graphs -------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
names = st.text(st.characters(blacklist_characters=".", blacklist_categories=("Cs",)),
                min_size=1, max_size=6)
configs: dict[type[Node], st.SearchStrategy[dict[str, Any]]] = {
    PropMap: st.fixed_dictionaries({}, optional={
        "gain": finite, "label": st.text(max_size=12), "enabled": st.booleans(),
        "mode": st.sampled_from(["fast", "exact"]),
        "taps": st.tuples(st.integers(), st.integers())}),
    PropJoin: st.fixed_dictionaries({}, optional={
        "weights": st.dictionaries(st.text(max_size=4), finite, max_size=3)}),
    PropText: st.fixed_dictionaries({}, optional={
        "prefix": st.text(max_size=12), "limit": st.none() | st.integers(0, 2**70)}),
    PropLen: st.just({}),
}


@st.composite
def graphs(draw: st.DrawFn, depth: int = 0, name: str = "g") -> Graph:
    """A valid graph: a random DAG over one int and one str input, feedback into optional ports."""
    g = Graph(name)
    ports: dict[type, list[OutPort]] = {int: [], str: []}
    joins: list[Node] = []

    def offer(outs: Any) -> None:
        for port in [outs] if isinstance(outs, OutPort) else outs.values():
            ports[port.type].append(port)

    with g:
        for tp, tname in TYPES.items():
            offer(g.input(f"in_{tname}", tp))
        for i in range(draw(st.integers(1, 7))):
            kinds: list[type[Node] | None] = [PropMap, PropJoin, PropText, PropLen]
            cls = draw(st.sampled_from([*kinds, *([None] if depth < 2 else [])]))
            if cls is None:
                inner = draw(graphs(depth + 1, draw(names)))
                node: Node = Subgraph(inner, name=f"sub_{i}")
            else:
                explicit = draw(st.none() | names)
                if explicit is not None and explicit in g:
                    explicit = None
                node = cls(name=explicit, **draw(configs[cls]))
                if isinstance(node, PropJoin):
                    joins.append(node)
            args = [draw(st.sampled_from(ports[p.type])) for p in node.input_ports() if p.required]
            offer(node(*args))
        for join in joins:  # close some loops, from anywhere, through feedback edges
            if draw(st.booleans()):
                source = draw(st.sampled_from(ports[int]))
                g.connect(source, PortRef(join.name or "", "b"), feedback=True)
        for k in range(draw(st.integers(0, 2))):
            g.output(f"out_{k}", draw(st.sampled_from(ports[int] + ports[str])))
    return g


def nested(graph: Graph, path: str = "") -> Iterator[tuple[str, Graph]]:
    """Every graph inside ``graph`` (itself included), with the path that errors use."""
    yield path, graph
    for node in graph:
        if isinstance(node, Subgraph):
            yield from nested(node.graph, f"{path}{node.name}/")


def nested_specs(spec: dict[str, Any], path: str = "", at: str = ""
                 ) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every graph spec inside ``spec``: (node path, spec location prefix, spec data)."""
    yield path, at, spec
    for i, node in enumerate(spec["nodes"]):
        if "graph" in node:
            yield from nested_specs(node["graph"], f"{path}{node['name']}/",
                                    f"{at}nodes[{i}].graph.")


def refused(graph: Graph) -> GraphValidationError:
    with pytest.raises(GraphValidationError) as info:
        graph.validate()
    return info.value


def culprits(error: GraphValidationError) -> list[tuple[type, str | None, str | None]]:
    return [(type(p), p.node, p.port) for p in error.problems]


def input_type(graph: Graph, ref: PortRef) -> Any:
    return graph.node(ref.node).input_port(ref.port).type


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- valid graphs ----------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_validate_and_round_trip_exactly(graph: Graph) -> None:
    graph.validate()
    spec = graph_to_spec(graph)
    loaded = graph_from_spec(spec)
    loaded.validate()
    assert graph_to_spec(loaded) == spec
    as_json, as_yaml = spec_to_json(spec), spec_to_yaml(spec)
    assert spec_from_json(as_json) == spec
    assert spec_from_yaml(as_yaml) == spec
    assert spec_to_json(graph_to_spec(graph_from_spec(spec_from_json(as_json)))) == as_json
    assert spec_to_yaml(graph_to_spec(graph_from_spec(spec_from_yaml(as_yaml)))) == as_yaml
    assert [(e.source, e.target, e.feedback) for e in loaded.edges()] == [
        (e.source, e.target, e.feedback) for e in graph.edges()]


@FAST
@given(graphs())
def test_every_node_of_a_random_graph_is_drawn(graph: Graph) -> None:
    drawn = pgv.AGraph(string=to_dot(graph))
    paths = [path + (node.name or "") for path, g in nested(graph) for node in g
             if not isinstance(node, Subgraph)]
    # besides the nodes: a point per port read three times or more, a box per fed-back port
    extra = [n for n in drawn.nodes() if n not in {dot_id(p) for p in paths}]
    assert all(n.attr["shape"] == "point" or n.endswith("~feedback") for n in extra)
    assert {dot_id(p) for p in paths} <= set(drawn.nodes())
    assert len(set(drawn.nodes())) == len(paths) + len(extra)
    fed_back: dict[tuple[str, object], int] = {}
    for path, g in nested(graph):
        for e in g.edges():
            if e.feedback:
                fed_back[path, e.source] = fed_back.get((path, e.source), 0) + 1
    # each consumer of a fed-back port, plus the line to its point when it fans out
    assert sum(e.attr["style"] == "dashed" for e in drawn.edges()) == sum(
        n + 1 if n >= 3 else n for n in fed_back.values())


@FAST
@given(graphs(), st.data())
def test_the_build_order_is_networkx_lexicographic_order(graph: Graph,
                                                         data: st.DataObject) -> None:
    """The graph orders its nodes without networkx (not imported to run a session); the order is
    the one networkx's lexicographical topological sort gives, and the edges come out in the
    order a networkx MultiDiGraph holds them, before and after an edge is removed."""
    for _, g in nested(graph):
        forward = nx.DiGraph()
        forward.add_nodes_from(n.name for n in g)
        forward.add_edges_from((e.source.node, e.target.node) for e in g.edges()
                               if not e.feedback)
        assert g.topological_order() == list(nx.lexicographical_topological_sort(forward))
        assert [d["edge"] for _, _, d in g.nx.edges(data=True)] == g.edges()
    _, g = data.draw(st.sampled_from(list(nested(graph))))
    edge = data.draw(st.sampled_from(g.edges()))
    held = g.nx
    held.remove_edge(edge.source.node, edge.target.node,
                     key=(edge.source.port, edge.target.port))
    g.remove_edge(edge)
    assert [d["edge"] for _, _, d in held.edges(data=True)] == g.edges()


# -- broken graphs ---------------------------------------------------------------------------------


@FAST
@given(graphs(), st.data())
def test_a_dropped_required_edge_names_the_input(graph: Graph, data: st.DataObject) -> None:
    path, g = data.draw(st.sampled_from(list(nested(graph))))
    edge = data.draw(st.sampled_from(
        [e for e in g.edges() if g.node(e.target.node).input_port(e.target.port).required]))
    g.remove_edge(edge)
    assert culprits(refused(graph)) == [
        (RequiredInputError, path + edge.target.node, edge.target.port)]


@FAST
@given(graphs(), st.data())
def test_an_edge_from_an_incompatible_port_names_the_input(graph: Graph,
                                                           data: st.DataObject) -> None:
    path, g = data.draw(st.sampled_from(list(nested(graph))))
    edge = data.draw(st.sampled_from(g.edges()))
    wrong = "in_str" if input_type(g, edge.target) is int else "in_int"
    g.remove_edge(edge)
    g.connect(PortRef(wrong, "out"), edge.target, feedback=edge.feedback)
    assert culprits(refused(graph)) == [
        (TypeMismatchError, path + edge.target.node, edge.target.port)]


@FAST
@given(graphs(), st.data())
def test_a_back_edge_without_feedback_names_the_cycle(graph: Graph, data: st.DataObject) -> None:
    path, g = data.draw(st.sampled_from(list(nested(graph))))
    forward = nx.DiGraph([(e.source.node, e.target.node) for e in g.edges() if not e.feedback])
    choices = [
        (edge, PortRef(v, p.name))
        for edge in g.edges() if not edge.feedback
        for v in {edge.target.node} | nx.descendants(forward, edge.target.node)
        for p in g.node(v).output_ports() if p.type is input_type(g, edge.target)
    ]
    assume(choices)  # e.g. a lone str -> int node has nothing downstream to loop back from
    edge, source = data.draw(st.sampled_from(choices))
    g.remove_edge(edge)
    g.connect(source, edge.target)
    forward.remove_edge(edge.source.node, edge.target.node)
    forward.add_edge(source.node, edge.target.node)
    cycle = sorted(next(c for c in nx.strongly_connected_components(forward)
                        if edge.target.node in c))
    error = refused(graph)
    assert culprits(error) == [(CycleError, path + cycle[0], None)]
    assert " -> ".join(cycle) in str(error)


@FAST
@given(graphs(), st.data())
def test_adding_a_node_under_a_taken_name_is_refused(graph: Graph, data: st.DataObject) -> None:
    _, g = data.draw(st.sampled_from(list(nested(graph))))
    taken = data.draw(st.sampled_from([n.name for n in g]))
    with pytest.raises(DuplicateNodeError) as info:
        g.add(PropLen(), taken)
    assert (info.value.node, info.value.port) == (taken, None)


# -- broken specs ----------------------------------------------------------------------------------


def spec_data(graph: Graph) -> dict[str, Any]:
    data: dict[str, Any] = graph_to_spec(graph).model_dump(mode="json")
    return data


@FAST
@given(graphs(), st.data())
def test_an_unknown_port_in_a_spec_is_named_by_validation(graph: Graph,
                                                          data: st.DataObject) -> None:
    spec = spec_data(graph)
    path, _, g = data.draw(st.sampled_from(list(nested_specs(spec))))
    edge = data.draw(st.sampled_from(g["edges"]))
    end = data.draw(st.sampled_from(["source", "target"]))
    old_target = PortRef.parse(edge["target"])
    bad = PortRef(PortRef.parse(edge[end]).node, "no_such_port")
    edge[end] = str(bad)
    loaded = graph_from_spec(spec)
    expected: list[Any] = [(UnknownPortError, path + bad.node, bad.port)]
    inner = dict(nested(graph))[path]
    if inner.node(old_target.node).input_port(old_target.port).required:
        expected.append((RequiredInputError, path + old_target.node, old_target.port))
    assert culprits(refused(loaded)) == expected


def spec_error(data: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        graph_from_spec(data)
    return info.value


@FAST
@given(graphs(), st.data())
def test_a_corrupt_config_value_is_located(graph: Graph, data: st.DataObject) -> None:
    spec = spec_data(graph)
    _, at, g = data.draw(st.sampled_from(list(nested_specs(spec))))
    i = data.draw(st.integers(0, len(g["nodes"]) - 1))
    field, value = data.draw(st.sampled_from(CORRUPTIONS[g["nodes"][i]["type"]]))
    g["nodes"][i]["config"][field] = value
    assert spec_error(spec).location == f"{at}nodes[{i}].config.{field}"


@FAST
@given(graphs(), st.data())
def test_an_unknown_node_type_is_located(graph: Graph, data: st.DataObject) -> None:
    spec = spec_data(graph)
    _, at, g = data.draw(st.sampled_from(list(nested_specs(spec))))
    i = data.draw(st.integers(0, len(g["nodes"]) - 1))
    g["nodes"][i]["type"] = data.draw(st.sampled_from(
        ["NoSuchNode", "no_such_module:Node", "flowagents.graph:NoSuchNode", "json:loads"]))
    assert spec_error(spec).location == f"{at}nodes[{i}].type"


@FAST
@given(graphs(), st.data())
def test_a_duplicate_node_name_is_located(graph: Graph, data: st.DataObject) -> None:
    spec = spec_data(graph)
    _, at, g = data.draw(st.sampled_from(list(nested_specs(spec))))
    i = data.draw(st.integers(0, len(g["nodes"]) - 2))
    j = data.draw(st.integers(i + 1, len(g["nodes"]) - 1))
    g["nodes"][j]["name"] = g["nodes"][i]["name"]
    error = spec_error(spec)
    assert error.location == f"{at}nodes[{j}].name"
    assert repr(g["nodes"][i]["name"]) in str(error)


@FAST
@given(graphs(), st.data())
def test_an_edge_to_an_unknown_node_is_located(graph: Graph, data: st.DataObject) -> None:
    spec = spec_data(graph)
    _, at, g = data.draw(st.sampled_from(list(nested_specs(spec))))
    k = data.draw(st.integers(0, len(g["edges"]) - 1))
    end = data.draw(st.sampled_from(["source", "target"]))
    g["edges"][k][end] = data.draw(st.sampled_from(["ghost.out", "no_dot_here", ".x", "x."]))
    assert spec_error(spec).location == f"{at}edges[{k}].{end}"


def test_the_generator_makes_subgraphs_and_feedback_edges() -> None:
    """Guard against a generator that silently stopped exercising what the tests claim."""
    seen = {"subgraph": False, "feedback": False, "nested": False}

    @settings(max_examples=80, deadline=None, database=None)
    @given(graphs())
    def look(graph: Graph) -> None:
        paths = [p for p, _ in nested(graph)]
        seen["subgraph"] |= len(paths) > 1
        seen["nested"] |= any(p.count("/") > 1 for p in paths)
        seen["feedback"] |= any(e.feedback for _, g in nested(graph) for e in g.edges())

    look()
    assert all(seen.values()), seen


def test_stream_nodes_carry_their_type_names() -> None:
    with Graph("g") as g:
        g.output("o", g.input("i", int))
    spec = graph_to_spec(g)
    assert [(n.type, n.config) for n in spec.nodes] == [
        ("GraphInput", {"type": "int"}), ("GraphOutput", {"type": "int"})]
    assert isinstance(g.node("i"), GraphInput)
    assert isinstance(g.node("o"), GraphOutput)
