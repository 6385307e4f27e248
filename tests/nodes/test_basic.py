"""The small generic nodes, each in a graph run under the TestScheduler."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from reactivex.subject import Subject

from flowagents.graph import Graph, RequiredInputError
from flowagents.runtime import GraphRuntime
from flowagents.types import AudioFrame
from nodes.ops.basic import Delay, Gain, Identity, Merge, Tap, Throttle, gain, merge_sync


def test_identity_and_tap(timeline) -> None:
    seen: list[int] = []
    with Graph("g") as g:
        x = g.input("x", int)
        g.output("y", Tap(resource="spy")(Identity()(x)))
    runtime = GraphRuntime(g, scheduler=timeline.scheduler, resources={"spy": seen.append})
    runtime.start()
    out = timeline.record(runtime.output("y"))
    for i in range(3):
        runtime.push("x", i)
    runtime.close()
    assert seen == out.items == [0, 1, 2]


def test_tap_without_its_resource_fails_at_build(timeline) -> None:
    with Graph("g") as g:
        g.output("y", Tap(resource="missing")(g.input("x", int)))
    with pytest.raises(Exception, match="missing"):
        GraphRuntime(g, scheduler=timeline.scheduler).start()


def test_gain_scales_and_saturates() -> None:
    frame = AudioFrame(np.array([1000, -1000, 20000, -20000], dtype=np.int16), 16000, 1, 2.5)
    source: Subject[AudioFrame] = Subject()
    louder: list[AudioFrame] = []
    same: list[AudioFrame] = []
    source.pipe(gain(6.0206)).subscribe(louder.append)  # x2
    source.pipe(gain(0.0)).subscribe(same.append)
    source.on_next(frame)
    assert louder[0].data.tolist() == [2000, -2000, 32767, -32768]
    assert louder[0].timestamp == 2.5
    assert same[0] is frame
    assert Gain(db=-3).summary() == "db=-3.0"


def test_merge_interleaves_in_arrival_order_and_completes_after_all(timeline) -> None:
    with Graph("g") as g:
        a, b, c = g.input("a", str), g.input("b", str), g.input("c", str)
        g.output("out", Merge(inputs=3)(a, b, c))
    runtime = GraphRuntime(g, scheduler=timeline.scheduler).start()
    out = timeline.record(runtime.output("out"))
    runtime.push("b", "b1")
    runtime.push("a", "a1")
    runtime.push("c", "c1")
    runtime.input("a").on_completed()
    runtime.input("b").on_completed()
    runtime.push("c", "c2")
    assert out.completed_at is None
    runtime.input("c").on_completed()
    assert out.items == ["b1", "a1", "c1", "c2"]
    assert out.completed_at is not None
    runtime.close()


def test_merge_of_nothing_completes_and_unconnected_inputs_are_allowed() -> None:
    done: list[bool] = []
    merge_sync().subscribe(on_completed=lambda: done.append(True))
    assert done == [True]
    with Graph("g") as g:
        g.output("out", Merge(inputs=4)(in_2=g.input("x", int)))
    g.validate()
    with pytest.raises(ValidationError):
        Merge(inputs=0)


def test_throttle_and_delay_run_on_the_job_scheduler(timeline) -> None:
    with Graph("g") as g:
        x = g.input("x", int)
        g.output("y", Delay(seconds=0.25)(Throttle(interval=1.0)(x)))
    runtime = GraphRuntime(g, scheduler=timeline.scheduler).start()
    out = timeline.record(runtime.output("y"))
    for t in (0.0, 0.5, 0.99, 1.0, 1.5, 2.2):
        timeline.at(t, lambda t=t: runtime.push("x", t))
    timeline.run(10)
    runtime.close()
    assert out.values == [(0.25, 0.0), (1.25, 1.0), (2.45, 2.2)]


def test_required_inputs_are_checked() -> None:
    with Graph("g") as g:
        g.add(Delay(seconds=1.0))
    with pytest.raises(RequiredInputError):
        g.validate()
