"""Reply cancellation: a new turn or an interruption disposes the reply in flight, and its work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import Subject

from flowagents.graph import Graph, NodeError
from flowagents.runtime import GraphRuntime, from_async_iterable, run_virtual
from flowagents.voice.turns import UserTurn
from nodes.reply.latest_reply import Reply, latest_reply


def turn(text: str, t: float = 0.0) -> UserTurn:
    return UserTurn(text, t, t, t)


def ticking(timeline, text: str, every: float = 1.0, count: int = 3) -> Observable[str]:
    """A reply that says ``text:0``, ``text:1``, ... every ``every`` seconds."""
    return reactivex.interval(every, scheduler=timeline.scheduler).pipe(
        ops.take(count), ops.map(lambda i: f"{text}:{i}"))


def test_a_new_turn_replaces_the_reply_in_flight(timeline) -> None:
    turns: Subject[UserTurn] = Subject()
    out = timeline.record(turns.pipe(latest_reply(lambda t: ticking(timeline, t.transcript))))
    timeline.push(0.0, turns, turn("a"))
    timeline.push(2.5, turns, turn("b"))
    timeline.run(20)
    assert out.values == [(1.0, "a:0"), (2.0, "a:1"), (3.5, "b:0"), (4.5, "b:1"), (5.5, "b:2")]
    assert out.completed_at is None


def test_cancel_disposes_the_reply_and_the_next_turn_answers(timeline) -> None:
    turns: Subject[UserTurn] = Subject()
    cancel: Subject[bool] = Subject()
    out = timeline.record(
        turns.pipe(latest_reply(lambda t: ticking(timeline, t.transcript), cancel)))
    timeline.push(0.0, turns, turn("a"))
    timeline.push(1.5, cancel, True)
    timeline.push(4.0, turns, turn("b"))
    timeline.run(20)
    assert out.values == [(1.0, "a:0"), (5.0, "b:0"), (6.0, "b:1"), (7.0, "b:2")]


def test_completes_after_the_last_reply(timeline) -> None:
    turns: Subject[UserTurn] = Subject()
    out = timeline.record(turns.pipe(latest_reply(lambda t: ticking(timeline, t.transcript))))
    timeline.push(0.0, turns, turn("a"))
    timeline.at(0.5, turns.on_completed)
    timeline.run(20)
    assert out.items == ["a:0", "a:1", "a:2"]
    assert out.completed_at == 3.0


def test_a_failing_reply_ends_the_stream_without_a_handler(timeline) -> None:
    turns: Subject[UserTurn] = Subject()
    out = timeline.record(turns.pipe(latest_reply(
        lambda t: reactivex.throw(RuntimeError("llm down")))))
    timeline.push(1.0, turns, turn("a"))
    timeline.run(5)
    assert [str(e) for e in out.errors] == ["llm down"]


def test_a_failing_reply_is_reported_and_the_next_turn_answers(timeline) -> None:
    turns: Subject[UserTurn] = Subject()
    reported: list[Exception] = []

    def make(t: UserTurn) -> Observable[str]:
        if t.transcript == "bad":
            raise ValueError("cannot answer")
        return reactivex.of(t.transcript.upper())

    out = timeline.record(turns.pipe(latest_reply(make, on_error=reported.append)))
    timeline.push(1.0, turns, turn("bad"))
    timeline.push(2.0, turns, turn("good"))
    timeline.run(5)
    assert [str(e) for e in reported] == ["cannot answer"]
    assert out.values == [(2.0, "GOOD")]
    assert out.errors == []


def test_disposing_the_reply_cancels_the_async_work() -> None:
    log: list[str] = []

    def make(t: UserTurn) -> Observable[str]:
        async def tokens() -> AsyncIterator[str]:
            log.append(f"start {t.transcript}")
            try:
                for word in ("one", "two", "three"):
                    await asyncio.sleep(1.0)
                    yield f"{t.transcript}:{word}"
            finally:
                log.append(f"closed {t.transcript}")

        return from_async_iterable(tokens)

    async def main() -> tuple[list[tuple[float, str]], bool]:
        loop = asyncio.get_running_loop()
        turns: Subject[UserTurn] = Subject()
        cancel: Subject[bool] = Subject()
        got: list[tuple[float, str]] = []
        done = asyncio.Event()
        sub = turns.pipe(latest_reply(make, cancel)).subscribe(
            lambda v: got.append((loop.time(), v)), on_completed=done.set)
        before = asyncio.all_tasks()
        turns.on_next(turn("a"))
        await asyncio.sleep(1.5)
        turns.on_next(turn("b"))  # a is cut after "one"
        await asyncio.sleep(2.5)
        cancel.on_next(True)  # b is cut after "two"
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        leaked = bool(asyncio.all_tasks() - before)
        turns.on_next(turn("c"))
        turns.on_completed()
        await done.wait()
        sub.dispose()
        return got, leaked

    got, leaked = run_virtual(main())
    assert got == [(1.0, "a:one"), (2.5, "b:one"), (3.5, "b:two"),
                   (5.0, "c:one"), (6.0, "c:two"), (7.0, "c:three")]
    assert log == ["start a", "closed a", "start b", "closed b", "start c", "closed c"]
    assert not leaked


def test_reply_node_reports_errors_by_node_name_and_keeps_answering(timeline) -> None:
    def make(t: UserTurn) -> Observable[str]:
        if t.transcript == "bad":
            return reactivex.throw(RuntimeError("tts failed"))
        return reactivex.of(f"re: {t.transcript}")

    with Graph("agent") as g:
        turns = g.input("turns", UserTurn)
        g.output("reply", Reply(name="answer")(turns))
    runtime = GraphRuntime(g, scheduler=timeline.scheduler,
                           resources={"reply_factory": make}).start()
    errors: list[NodeError] = []
    runtime.errors.subscribe(errors.append)
    out = timeline.record(runtime.output("reply"))
    timeline.at(1.0, lambda: runtime.push("turns", turn("bad")))
    timeline.at(2.0, lambda: runtime.push("turns", turn("hello")))
    timeline.run(5)
    runtime.close()
    assert out.values == [(2.0, "re: hello")]
    assert [(e.node, e.port, str(e.cause)) for e in errors] == [("answer", "reply", "tts failed")]


def test_reply_node_with_a_python_factory_and_cancel(timeline) -> None:
    with Graph("agent") as g:
        turns = g.input("turns", UserTurn)
        barge_in = g.input("barge_in", bool)
        g.output("speech", Reply(lambda t: ticking(timeline, t.transcript))(turns, barge_in))
    runtime = GraphRuntime(g, scheduler=timeline.scheduler).start()
    out = timeline.record(runtime.output("speech"))
    timeline.at(0.0, lambda: runtime.push("turns", turn("x")))
    timeline.at(1.2, lambda: runtime.push("barge_in", True))
    timeline.run(5)
    runtime.close()
    assert out.values == [(1.0, "x:0")]
