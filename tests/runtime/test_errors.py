"""A node's error is a NodeError naming it, on runtime.errors; the loop and other branches go on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, Graph, In, Node, NodeConfig, NodeError, Out
from flowagents.runtime import GraphRuntime, run_virtual
from nodes.ops.basic import Delay, Identity


class FailsConfig(NodeConfig):
    at: int = 3
    in_build: bool = False


class Fails(Node):
    """Passes ints through and raises on the value ``at`` (or at build time)."""

    Config = FailsConfig
    inputs = (In("in", int),)
    outputs = (Out("out", int),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, FailsConfig)
        if cfg.in_build:
            raise RuntimeError("cannot build")

        def check(v: int) -> int:
            if v == cfg.at:
                raise ValueError(f"bad value {v}")
            return v

        return {"out": inputs["in"].pipe(ops.map(check))}


def test_a_failing_node_ends_only_its_branch_and_the_loop_goes_on() -> None:
    with Graph("g") as g:
        x = g.input("x", int)
        shared = Identity()(x)  # fans out: to the failing branch and to the healthy one
        g.output("a", Fails(name="checker")(shared))
        g.output("b", Delay(seconds=0.5)(shared))

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        seen: dict[str, Any] = {"a": [], "b": [], "errors": [], "a_done": None}
        async with GraphRuntime(g) as rt:
            rt.errors.subscribe(lambda e: seen["errors"].append((loop.time(), e)))
            rt.output("a").subscribe(lambda v: seen["a"].append(v),
                                     on_completed=lambda: seen.__setitem__("a_done", loop.time()))
            rt.output("b").subscribe(lambda v: seen["b"].append((loop.time(), v)))
            for k in range(1, 6):
                loop.call_at(float(k), rt.push, "x", k)
            await asyncio.sleep(10)
            seen["loop_alive_at"] = loop.time()
        return seen

    seen = run_virtual(main())
    assert seen["a"] == [1, 2]
    assert seen["a_done"] == 3.0
    assert seen["b"] == [(k + 0.5, k) for k in range(1, 6)]
    [(t, error)] = seen["errors"]
    assert t == 3.0
    assert isinstance(error, NodeError)
    assert (error.node, error.port) == ("checker", "out")
    assert isinstance(error.cause, ValueError)
    assert "checker.out" in str(error)
    assert seen["loop_alive_at"] == 10.0


def test_an_error_inside_a_subgraph_names_the_path(timeline_scheduler) -> None:
    with Graph("inner") as inner:
        inner.output("y", Fails(name="checker", at=2)(inner.input("x", int)))
    with Graph("outer") as g:
        g.output("y", inner(g.input("x", int)))
    rt = GraphRuntime(g, scheduler=timeline_scheduler).start()
    errors: list[NodeError] = []
    rt.errors.subscribe(errors.append)
    got: list[int] = []
    rt.output("y").subscribe(got.append)
    for k in (1, 2, 3):
        rt.push("x", k)
    rt.close()
    assert got == [1]
    assert [(e.node, e.port) for e in errors] == [("inner/checker", "out")]


def test_an_error_while_building_names_the_node(timeline_scheduler) -> None:
    with Graph("g") as g:
        g.output("y", Fails(name="broken", in_build=True)(g.input("x", int)))
    with pytest.raises(NodeError) as info:
        GraphRuntime(g, scheduler=timeline_scheduler).start()
    assert info.value.node == "broken"
    assert isinstance(info.value.cause, RuntimeError)


class _Raw(Node):
    """A node whose output is a plain ``reactivex.create`` observable: it fails while being
    subscribed (``fail_at_subscribe``), or emits 1, 2 and completes, recording its disposal."""

    outputs = (Out("out", int),)
    kind = "source"
    disposed: list[str] = []

    def __init__(self, fail_at_subscribe: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.fail_at_subscribe = fail_at_subscribe

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        from reactivex import create
        from reactivex.disposable import Disposable

        def subscribe(observer: Any, scheduler: Any = None) -> Any:
            if self.fail_at_subscribe:
                raise RuntimeError("cannot subscribe")
            observer.on_next(1)
            observer.on_next(2)
            observer.on_completed()
            observer.on_next(3)  # after the end: never delivered
            return Disposable(lambda: _Raw.disposed.append(self.name or ""))

        return {"out": create(subscribe)}


def test_a_plain_observable_at_a_node_output_ends_and_fails_like_an_auto_detached_one(
        timeline_scheduler) -> None:
    """The runtime subscribes a node's plain reactivex observable with its own sink (no
    auto-detach observer and its disposables): nothing after the end, the subscription disposed
    at the end, and an error raised while subscribing is reported with the node and port."""
    _Raw.disposed = []
    with Graph("g") as g:
        g.output("good", _Raw(False, name="emits")())
        g.output("bad", _Raw(True, name="fails")())
    rt = GraphRuntime(g, scheduler=timeline_scheduler)
    errors: list[NodeError] = []
    rt.errors.subscribe(errors.append)
    rt.start()
    # the good output emitted while the runtime was wiring it: before anyone could listen, so
    # late subscribers get only its end
    ends: list[str] = []
    rt.output("good").subscribe(on_completed=lambda: ends.append("good"))
    rt.output("bad").subscribe(on_completed=lambda: ends.append("bad"))
    assert ends == ["good", "bad"]
    assert _Raw.disposed == ["emits"]
    [error] = errors
    assert (error.node, error.port) == ("fails", "out")
    assert str(error.cause) == "cannot subscribe"
    rt.close()
    assert _Raw.disposed == ["emits"]  # disposed once
