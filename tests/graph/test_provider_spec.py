"""Provider nodes in specs: the provider is a per-job resource, so a loaded graph still runs."""

from __future__ import annotations

import pytest
from reactivex.testing import TestScheduler

from flowagents.graph import Graph, NodeError, graph_from_json, graph_to_json, graph_to_spec
from flowagents.runtime import GraphRuntime
from flowagents.testing import FakeVAD, Script
from flowagents.types import AudioFrame, VADEventType
from graphs.example import example_graph
from nodes.audio.vad import VADNode


def _vad_graph() -> Graph:
    with Graph("vad_only") as g:
        audio = g.input("audio", AudioFrame)
        g.output("events", VADNode(FakeVAD(Script()))(audio))
    return g


def test_example_graph_with_providers_round_trips_through_json() -> None:
    graph = example_graph()
    spec = graph_to_spec(graph)
    loaded = graph_from_json(graph_to_json(graph))
    assert graph_to_spec(loaded) == spec
    assert spec.model_dump(mode="json")["nodes"]  # non-trivial


def test_loaded_provider_node_without_a_resource_names_node_and_resource() -> None:
    loaded = graph_from_json(graph_to_json(_vad_graph()))
    runtime = GraphRuntime(loaded, scheduler=TestScheduler())
    with pytest.raises(NodeError) as caught:
        runtime.start()
    assert caught.value.node == "vad"
    assert "'vad'" in str(caught.value)


def test_loaded_provider_node_takes_its_provider_from_the_resources() -> None:
    script = Script()
    script.user_speech(start=0.1, end=0.3, transcript="hi")
    loaded = graph_from_json(graph_to_json(_vad_graph()))
    scheduler = TestScheduler()
    runtime = GraphRuntime(loaded, scheduler=scheduler, resources={"vad": FakeVAD(script)})
    runtime.start()
    events: list[tuple[VADEventType, float]] = []
    runtime.output("events").subscribe(lambda e: events.append((e.type, e.timestamp)))
    for i in range(100):
        runtime.push("audio", AudioFrame.silence(0.01, timestamp=i * 0.01))
    runtime.close()
    kinds = [kind for kind, _ in events if kind is not VADEventType.INFERENCE_DONE]
    assert kinds == [VADEventType.START_OF_SPEECH, VADEventType.END_OF_SPEECH]
    assert [round(t, 6) for k, t in events if k is not VADEventType.INFERENCE_DONE] == [0.1, 0.3]


def test_the_example_graph_is_valid_and_exposes_every_voice_input() -> None:
    """The shipped example must run: every voice input is connected (a new voice input that the
    example forgets fails here, not in a user's hands)."""
    graph = example_graph()
    graph.validate()
    assert {"audio", "requests"} <= set(graph.input_names)
