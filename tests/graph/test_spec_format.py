"""Graph specs: exact round trips through objects, JSON and YAML, and errors located in the spec."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from flowagents.graph import (
    BuildContext,
    FeedbackUnboundError,
    Graph,
    In,
    Node,
    NodeConfig,
    Out,
    SpecError,
    UnknownPortError,
)
from flowagents.graph.spec import (
    GraphSpec,
    graph_from_spec,
    graph_from_yaml,
    graph_to_json,
    graph_to_spec,
    graph_to_yaml,
    node_type_name,
    register_node,
    resolve_node,
    spec_from_json,
    spec_from_yaml,
    spec_to_json,
    spec_to_yaml,
)
from flowagents.runtime import GraphRuntime


@register_node
class SpecScale(Node):
    class Config(NodeConfig):
        factor: float = 1.0
        label: str = ""

    inputs = (In("x", float),)
    outputs = (Out("y", float),)

    def build(self, ctx: BuildContext, inputs: Mapping[str, Observable[Any]]
              ) -> Mapping[str, Observable[Any]]:
        factor = self.config.factor  # type: ignore[attr-defined]
        return {"y": inputs["x"].pipe(ops.map(lambda v: v * factor))}


@register_node
class SpecMix(Node):
    inputs = (In("a", float), In("b", float, required=False))
    outputs = (Out("y", float),)


class Unregistered(Node):
    """Written in specs by import path (this test module is importable under pytest)."""

    inputs = (In("x", float),)
    outputs = (Out("y", float),)


class Tuner:
    """A resource a node holds beside its config (as a provider node holds a model)."""

    def __init__(self, preset: str) -> None:
        self.preset = preset


@register_node
class SpecTuned(Node):
    class Config(NodeConfig):
        preset: str = "default"

    inputs = (In("x", float),)
    outputs = (Out("y", float),)

    def __init__(self, tuner: Tuner, **kwargs: Any) -> None:
        super().__init__(preset=tuner.preset, **kwargs)
        self.tuner = tuner

    @classmethod
    def from_spec_config(cls, data: Mapping[str, Any]) -> Node:
        return cls(Tuner(cls.Config.model_validate(data).preset))  # type: ignore[attr-defined]


def sample_graph() -> Graph:
    with Graph("inner") as inner:
        inner.output("y", SpecScale(factor=2.0, label="<inner & 'x'>")(inner.input("x", float)))
    with Graph("sample") as g:
        loop = g.feedback("loop", float)
        mixed = SpecMix()(g.input("audio", float), loop)
        scaled = inner(mixed)
        loop.bind(scaled)
        tuned = SpecTuned(Tuner("warm"))(Unregistered()(scaled))
        g.output("out", tuned)
    return g


def test_a_spec_lists_nodes_and_edges_with_feedback_marked() -> None:
    spec = graph_to_spec(sample_graph())
    assert spec.version == 1
    assert [(n.name, n.type) for n in spec.nodes] == [
        ("audio", "GraphInput"), ("spec_mix", "SpecMix"), ("inner", "Subgraph"),
        ("unregistered", f"{__name__}:Unregistered"), ("spec_tuned", "SpecTuned"),
        ("out", "GraphOutput")]
    assert spec.nodes[0].config == {"type": "float"}
    assert spec.nodes[4].config == {"preset": "warm"}
    inner = spec.nodes[2].graph
    assert inner is not None
    assert inner.nodes[1].config == {"factor": 2.0, "label": "<inner & 'x'>"}
    assert [(e.source, e.target, e.feedback) for e in spec.edges if e.feedback] == [
        ("inner.y", "spec_mix.b", True)]


def test_round_trips_are_exact() -> None:
    spec = graph_to_spec(sample_graph())
    assert graph_to_spec(graph_from_spec(spec)) == spec
    as_json, as_yaml = spec_to_json(spec), spec_to_yaml(spec)
    assert spec_from_json(as_json) == spec
    assert spec_from_yaml(as_yaml) == spec
    assert spec_to_json(graph_to_spec(graph_from_spec(spec_from_json(as_json)))) == as_json
    assert spec_to_yaml(graph_to_spec(graph_from_spec(spec_from_yaml(as_yaml)))) == as_yaml
    assert graph_to_json(graph_from_yaml(graph_to_yaml(sample_graph()))) == graph_to_json(
        sample_graph())


def test_only_feedback_edges_and_subgraphs_carry_the_optional_keys() -> None:
    data = json.loads(spec_to_json(graph_to_spec(sample_graph())))
    assert [e for e in data["edges"] if "feedback" in e] == [
        {"source": "inner.y", "target": "spec_mix.b", "feedback": True}]
    assert [n["name"] for n in data["nodes"] if "graph" in n] == ["inner"]
    assert spec_to_yaml(graph_to_spec(sample_graph())).startswith("version: 1\nname: sample\n")


def test_a_hand_written_yaml_spec_loads_and_runs() -> None:
    text = """
    name: doubler
    nodes:
      - {name: x, type: GraphInput, config: {type: float}}
      - {name: twice, type: SpecScale, config: {factor: 2}}
      - {name: y, type: GraphOutput, config: {type: float}}
    edges:
      - {source: x.out, target: twice.x}
      - {source: twice.y, target: y.in}
    """
    graph = graph_from_yaml(text)
    scheduler = TestScheduler()
    seen: list[float] = []
    with GraphRuntime(graph, scheduler=scheduler) as runtime:
        runtime.output("y").subscribe(seen.append)
        for value in (1.0, 2.5):
            runtime.push("x", value)
    assert seen == [2.0, 5.0]


def test_a_loaded_graph_with_an_unknown_port_fails_validation_by_node_and_port() -> None:
    data = graph_to_spec(sample_graph()).model_dump(mode="json")
    data["edges"][0]["target"] = "spec_mix.nope"
    graph = graph_from_spec(data)
    with pytest.raises(UnknownPortError) as info:
        graph.validate()
    assert (info.value.node, info.value.port) == ("spec_mix", "nope")


def mutated(change: Any) -> dict[str, Any]:
    data: dict[str, Any] = graph_to_spec(sample_graph()).model_dump(mode="json")
    change(data)
    return data


@pytest.mark.parametrize(("change", "location", "text"), [
    (lambda d: d["nodes"][1].update(type="NoSuchNode"), "nodes[1].type", "unknown node type"),
    (lambda d: d["nodes"][1].update(type="no.such.module:Node"), "nodes[1].type",
     "cannot import 'no.such.module'"),
    (lambda d: d["nodes"][1].update(type="json:Nope"), "nodes[1].type", "has no 'Nope'"),
    (lambda d: d["nodes"][1].update(type="json:JSONDecoder"), "nodes[1].type",
     "is not a Node class"),
    (lambda d: d["nodes"][2]["graph"]["nodes"][1]["config"].update(factor="loud"),
     "nodes[2].graph.nodes[1].config.factor", "valid number"),
    (lambda d: d["nodes"][4]["config"].update(bogus=1), "nodes[4].config.bogus",
     "Extra inputs are not permitted"),
    (lambda d: d["nodes"][0]["config"].update(type="NoSuchType"), "nodes[0].config.type",
     "unknown stream type 'NoSuchType'"),
    (lambda d: d["nodes"][3].update(name="spec_mix"), "nodes[3].name",
     "duplicate node name 'spec_mix'"),
    (lambda d: d["nodes"][3].update(name="a.b"), "nodes[3].name", "invalid node name"),
    (lambda d: d["nodes"][2].pop("graph"), "nodes[2].graph", "needs an inner 'graph'"),
    (lambda d: d["nodes"][1].update(graph={"name": "x"}), "nodes[1].graph", "only a Subgraph"),
    (lambda d: d["edges"][1].update(source="spec_mix"), "edges[1].source",
     "expected 'node.port'"),
    (lambda d: d["edges"][2].update(target="ghost.in"), "edges[2].target",
     "no node named 'ghost'"),
    (lambda d: d["edges"].append(dict(d["edges"][0])), "edges[6]", "duplicate edge"),
    (lambda d: d.update(version=99), "version", "spec version 99 is not supported"),
    (lambda d: d["nodes"][3].pop("name"), "nodes[3].name", "Field required"),
    (lambda d: d["edges"][0].update(feedbak=True), "edges[0].feedbak", "Extra inputs"),
])
def test_bad_specs_raise_a_located_spec_error(change: Any, location: str, text: str) -> None:
    data = mutated(change)
    with pytest.raises(SpecError) as info:
        graph_from_spec(data)
    assert info.value.location == location
    assert text in str(info.value)
    assert str(info.value).startswith(f"{location}: ")


def test_text_that_is_not_a_spec_raises_spec_errors() -> None:
    with pytest.raises(SpecError, match="invalid YAML"):
        spec_from_yaml("nodes: [unclosed")
    with pytest.raises(SpecError, match="Invalid JSON"):
        spec_from_json("{")
    with pytest.raises(SpecError) as info:
        spec_from_yaml("name: g\nnodes: {}\n")
    assert info.value.location == "nodes"


def test_the_registry_and_import_paths_resolve_node_classes() -> None:
    assert resolve_node("SpecScale") is SpecScale
    assert resolve_node(f"{__name__}:Unregistered") is Unregistered
    assert node_type_name(Unregistered) == f"{__name__}:Unregistered"
    register_node(SpecScale)  # registering the same class again is harmless
    with pytest.raises(ValueError, match="already registered"):
        register_node(Unregistered, "SpecScale")


def test_what_a_spec_cannot_hold_is_refused_when_writing() -> None:
    class Local(Node):
        outputs = (Out("y", float),)

    with Graph("g") as g:
        Local()()
    with pytest.raises(ValueError, match="defined inside a function"):
        graph_to_spec(g)
    with Graph("h") as h:
        SpecMix()(h.input("a", float), h.feedback("never", float))
    with pytest.raises(FeedbackUnboundError) as info:
        graph_to_spec(h)
    assert (info.value.node, info.value.port) == ("spec_mix", "b")


def test_graph_spec_is_a_pydantic_model_with_a_json_schema() -> None:
    schema = GraphSpec.model_json_schema()
    graph = schema["$defs"][schema["$ref"].rpartition("/")[2]]
    assert set(graph["properties"]) == {"version", "name", "nodes", "edges"}
    assert graph["required"] == ["name"]


def test_node_modules_load_before_stream_types_are_resolved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph input's type may be registered by the module of a node listed after it."""
    (tmp_path / "spec_late_module.py").write_text(textwrap.dedent('''
        from flowagents.graph import In, Node, register_type

        class LateEvent:
            pass

        register_type(LateEvent)

        class LateSink(Node):
            inputs = (In("x", LateEvent),)
    '''), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spec_late_module", raising=False)
    graph = graph_from_yaml(textwrap.dedent("""
        name: late
        nodes:
          - {name: events, type: GraphInput, config: {type: LateEvent}}
          - {name: sink, type: "spec_late_module:LateSink"}
        edges:
          - {source: events.out, target: sink.x}
    """))
    graph.validate()
    assert type(graph.node("sink")).__name__ == "LateSink"
