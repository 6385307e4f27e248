"""EventEmitter: listeners run in order; one that raises is logged and the others still run."""

from __future__ import annotations

import logging

import pytest

from flowagents.events import EventEmitter


def test_listeners_run_in_order_and_a_failing_one_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    calls: list[tuple[str, int]] = []

    def broken(value: int) -> None:
        raise RuntimeError("listener bug")

    emitter.on("job", lambda v: calls.append(("first", v)))
    emitter.on("job", broken)
    emitter.on("job", lambda v: calls.append(("third", v)))
    with caplog.at_level(logging.ERROR, logger="flowagents.events"):
        emitter._emit("job", 7)
    assert calls == [("first", 7), ("third", 7)]
    assert [r.message for r in caplog.records] == ["event listener failed"]


def test_off_removes_a_listener() -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    emitter.on("x", calls.append)
    emitter.off("x", calls.append)
    emitter._emit("x", 1)
    assert calls == []
