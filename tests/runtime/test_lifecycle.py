"""A running graph owns everything it starts: close() leaves no subscription, task or thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from reactivex import Observable
from reactivex.subject import Subject
from reactivex.testing import TestScheduler
from voice_sim import arrival, frames, token_reply, voice_graph

from flowagents.graph import BuildContext, Graph, Node, NodeConfig, Out
from flowagents.runtime import GraphRuntime, run_virtual
from flowagents.types import AudioFrame
from nodes.ops.basic import Delay, Merge, Throttle


class ExternalConfig(NodeConfig):
    resource: str


class External(Node):
    """A source node reading a hot stream from the job's resources (a room track, say)."""

    Config = ExternalConfig
    kind = "source"
    outputs = (Out("out", int),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ExternalConfig)
        return {"out": ctx.resources[cfg.resource]}


def spy_on_input_subjects(runtime: GraphRuntime) -> dict[str, int]:
    """Record how many observers each input subject still has when close() disposes it."""
    left: dict[str, int] = {}
    for name in runtime.graph.input_names:
        subject = runtime.input(name)
        assert isinstance(subject, Subject)
        original = subject.dispose

        def dispose(name: str = name, subject: Subject[Any] = subject,
                    original: Any = original) -> None:
            left[name] = len(subject.observers)
            original()

        subject.dispose = dispose  # type: ignore[method-assign]
    return left


def timed_graph() -> Graph:
    """Inputs and an external source, fanned out through time-based nodes to two outputs."""
    with Graph("timed") as g:
        x = g.input("x", int)
        ext = External(resource="ticks")()
        both = Merge(inputs=2)(x, ext)
        g.output("slow", Delay(seconds=2.0)(both))
        g.output("sparse", Throttle(interval=1.0)(both))
    return g


def test_close_disposes_every_subscription_and_task_on_the_loop() -> None:
    closed: list[str] = []
    ticks: Subject[int] = Subject()

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        own = asyncio.all_tasks()
        graph = voice_graph(stt_mode="async", reply=token_reply(1.0, 10, closed))
        with Graph("both") as g:
            audio = g.input("audio", AudioFrame)
            inner = graph(audio)  # the voice graph as a subgraph
            g.output("turns", inner.turns)
            g.output("words", inner.words)
            g.add(External(resource="ticks"), "ticks_src")
        runtime = GraphRuntime(g, resources={"ticks": ticks}).start()
        left = spy_on_input_subjects(runtime)
        words: list[str] = []
        runtime.output("turns").subscribe(lambda t: words.append(t.transcript))
        for i, f in enumerate(frames([(1.0, 2.0)], 200)):
            loop.call_at(arrival(i), runtime.push, "audio", f)
        await asyncio.sleep(3.5)  # the reply is speaking (committed at 2.5)
        during = len(asyncio.all_tasks() - own)
        runtime.close()
        await asyncio.sleep(0)
        return {"left": left, "during": during, "after": asyncio.all_tasks() - own,
                "ticks": len(ticks.observers), "words": words}

    result = run_virtual(main())
    assert result["words"] == ["utterance 1: 85 frames"]
    assert result["during"] == 1  # the reply's bridge task
    assert result["after"] == set()
    assert closed == ["closed utterance 1"]
    assert result["left"] == {"audio": 0}
    assert result["ticks"] == 0


def test_close_under_the_test_scheduler_cancels_timers() -> None:
    scheduler = TestScheduler()
    ticks: Subject[int] = Subject()
    runtime = GraphRuntime(timed_graph(), scheduler=scheduler, resources={"ticks": ticks})
    runtime.start()
    left = spy_on_input_subjects(runtime)
    slow: list[tuple[float, int]] = []
    runtime.output("slow").subscribe(lambda v: slow.append((scheduler.clock, v)))
    scheduler.schedule_absolute(1.0, lambda *_: runtime.push("x", 1))
    scheduler.schedule_absolute(1.5, lambda *_: ticks.on_next(2))
    scheduler.schedule_absolute(3.2, lambda *_: runtime.close())
    scheduler.advance_to(10.0)
    assert slow == [(3.0, 1)]  # the 2 due at 3.5 never comes
    assert left == {"x": 0}
    assert ticks.observers == []
    assert len(scheduler._queue) == 0


def test_a_running_graph_starts_no_thread() -> None:
    before = threading.enumerate()

    async def main() -> tuple[list[Any], int]:
        loop = asyncio.get_running_loop()
        ticks: Subject[int] = Subject()
        threads_seen = 0
        got: list[Any] = []
        async with GraphRuntime(timed_graph(), resources={"ticks": ticks}) as rt:
            rt.output("slow").subscribe(lambda v: got.append(("slow", loop.time(), v)))
            rt.output("sparse").subscribe(lambda v: got.append(("sparse", loop.time(), v)))
            for k in range(10):
                loop.call_at(0.3 * k, rt.push, "x", k)
                loop.call_at(0.3 * k + 0.1, ticks.on_next, 100 + k)
            await asyncio.sleep(5.0)
            threads_seen = threading.active_count()
        async with GraphRuntime(voice_graph(stt_mode="async", reply=token_reply(0.5, 3))) as rt:
            for i, f in enumerate(frames([(0.5, 1.5)], 150)):
                loop.call_at(loop.time() + arrival(i), rt.push, "audio", f)
            await asyncio.sleep(5.0)
            threads_seen = max(threads_seen, threading.active_count())
        return got, threads_seen

    got, threads_seen = run_virtual(main())
    assert threads_seen == len(before)
    assert threading.enumerate() == before
    assert [round(t, 6) for kind, t, _ in got if kind == "sparse"] == [0.0, 1.0, 2.1]
    assert len([1 for kind, _, _ in got if kind == "slow"]) == 20
