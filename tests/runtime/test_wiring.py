"""Wiring: feedback edges close loops, subgraphs nest, fan-out shares one upstream subscription."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, CycleError, Graph, In, Node, NodeConfig, Out
from flowagents.runtime import GraphRuntime
from nodes.ops.basic import Delay, Identity, Merge, Tap, merge_sync


class AddConfig(NodeConfig):
    k: int = 1


class Add(Node):
    Config = AddConfig
    inputs = (In("in", int),)
    outputs = (Out("out", int),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, AddConfig)
        return {"out": inputs["in"].pipe(ops.map(lambda v: v + cfg.k))}


class Positive(Node):
    inputs = (In("in", int),)
    outputs = (Out("out", int),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        return {"out": inputs["in"].pipe(ops.filter(lambda v: v > 0))}


class CountedConfig(NodeConfig):
    values: list[int] = [1, 2, 3]


class Counted(Node):
    """A cold source emitting its values on subscription, counting its subscriptions."""

    Config = CountedConfig
    kind = "source"
    outputs = (Out("out", int),)
    subscriptions = 0

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, CountedConfig)

        def factory(_: Any) -> Observable[int]:
            Counted.subscriptions += 1
            return reactivex.from_iterable(cfg.values)

        return {"out": reactivex.defer(factory)}


def countdown_graph(delay: float | None) -> Graph:
    """x -> (merge with feedback) -> minus one -> [delay] -> out; positive values loop back."""
    with Graph("countdown") as g:
        x = g.input("x", int)
        again = g.feedback("again", int)
        step = Add(k=-1)(Merge(inputs=2)(x, again))
        if delay is not None:
            step = Delay(seconds=delay)(step)
        again.bind(Positive()(step))
        g.output("count", step)
    return g


def test_a_feedback_edge_with_a_delay_loops_in_virtual_time(timeline_scheduler) -> None:
    g = countdown_graph(1.0)
    assert any(edge.feedback for edge in g.edges())
    rt = GraphRuntime(g, scheduler=timeline_scheduler).start()
    got: list[tuple[float, int]] = []
    rt.output("count").subscribe(lambda v: got.append((timeline_scheduler.clock, v)))
    timeline_scheduler.schedule_absolute(0.5, lambda *_: rt.push("x", 3))
    timeline_scheduler.advance_to(10.0)
    rt.close()
    assert got == [(1.5, 2), (2.5, 1), (3.5, 0)]


def test_a_synchronous_feedback_loop_runs_to_its_end_within_one_push(timeline_scheduler) -> None:
    rt = GraphRuntime(countdown_graph(None), scheduler=timeline_scheduler).start()
    got: list[int] = []
    rt.output("count").subscribe(got.append)
    rt.push("x", 4)
    assert got == [3, 2, 1, 0]
    rt.close()


def test_a_loop_without_a_feedback_edge_is_refused() -> None:
    with Graph("loop") as g:
        a = Add(name="a")
        b = Add(name="b")
        g.add(a)
        g.add(b)
        g.connect("a.out", "b.in")
        g.connect("b.out", "a.in")
    with pytest.raises(CycleError):
        g.validate()


def test_subgraphs_nest_and_can_be_used_twice(timeline_scheduler) -> None:
    with Graph("plus_two") as plus_two:
        plus_two.output("y", Add(k=1)(Add(k=1)(plus_two.input("x", int))))
    with Graph("both") as both:  # two inputs, two outputs, a subgraph inside
        a, b = both.input("a", int), both.input("b", int)
        both.output("sum_a", plus_two(a))
        both.output("merged", Merge(inputs=2)(a, plus_two(b)))
    with Graph("outer") as g:
        x = g.input("x", int)
        first = both(x, Add(k=100)(x))
        second = both(first.sum_a, first.merged)
        g.output("out_a", second.sum_a)
        g.output("out_m", second.merged)
    g.validate()
    rt = GraphRuntime(g, scheduler=timeline_scheduler).start()
    out_a: list[int] = []
    out_m: list[int] = []
    rt.output("out_a").subscribe(out_a.append)
    rt.output("out_m").subscribe(out_m.append)
    rt.push("x", 1)
    rt.close()
    # first: sum_a = 3, merged = [1, 103]; second: sum_a = 5, merged = [3, 3, 105]
    assert out_a == [5]
    assert sorted(out_m) == [3, 3, 105]


def test_fan_out_subscribes_upstream_once_after_every_consumer(timeline_scheduler) -> None:
    seen: dict[str, list[int]] = {"one": [], "two": [], "three": []}
    with Graph("fan") as g:
        src = Counted()()
        for name in seen:
            g.output(f"out_{name}", Tap(resource=name, name=f"tap_{name}")(src))
    Counted.subscriptions = 0
    resources = {name: values.append for name, values in seen.items()}
    rt = GraphRuntime(g, scheduler=timeline_scheduler, resources=resources).start()
    rt.close()
    assert Counted.subscriptions == 1
    assert seen == {"one": [1, 2, 3], "two": [1, 2, 3], "three": [1, 2, 3]}


class Watch(Node):
    """Tags what arrives on ``a`` and ``b``, in arrival order."""

    inputs = (In("a", int), In("b", int))
    outputs = (Out("out", tuple),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        return {"out": merge_sync(inputs["a"].pipe(ops.map(lambda v: ("a", v))),
                                  inputs["b"].pipe(ops.map(lambda v: ("b", v))))}


@pytest.mark.parametrize("extra_consumer", [False, True])
def test_fan_out_serves_consumers_in_topological_order(timeline_scheduler,
                                                       extra_consumer: bool) -> None:
    """``watch`` gets x directly and through ``echo``: it sees echo's reaction first, however
    the graph around it is built (with reactivex's ``publish``, adding a consumer of watch's
    output delayed watch's subscription to x behind echo's, and watch saw x first only
    without it)."""
    with Graph("g") as g:
        x = g.input("x", int)
        echo = Add(k=10, name="echo")(x)
        seen = Watch(name="watch")(x, echo)
        g.output("echo_out", echo)
        g.output("seen", seen)
        if extra_consumer:
            g.output("again", Identity()(seen))
    rt = GraphRuntime(g, scheduler=timeline_scheduler).start()
    got: list[tuple[str, int]] = []
    rt.output("seen").subscribe(got.append)
    rt.push("x", 1)
    rt.push("x", 2)
    rt.close()
    assert got == [("b", 11), ("a", 1), ("b", 12), ("a", 2)]
