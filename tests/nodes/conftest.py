"""Shared fixtures for node tests: a virtual-time timeline on reactivex's TestScheduler.

A test scripts its inputs as ``timeline.at(t, subject, value)`` calls, records outputs with
``timeline.record(stream)``, runs ``timeline.run(until)``, and compares the recorded
``(time, value)`` pairs with the expected ones, exact to the scheduler's microsecond.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reactivex import Observable
from reactivex.abc import DisposableBase
from reactivex.testing import TestScheduler

from flowagents.runtime.scheduler import seconds


class Recording:
    """What a stream emitted, with the virtual time of each value."""

    def __init__(self) -> None:
        self.values: list[tuple[float, Any]] = []
        self.errors: list[Exception] = []
        self.completed_at: float | None = None

    @property
    def items(self) -> list[Any]:
        return [v for _, v in self.values]


class Timeline:
    def __init__(self) -> None:
        self.scheduler = TestScheduler()
        self.subscriptions: list[DisposableBase] = []

    def now(self) -> float:
        return seconds(self.scheduler)

    def at(self, t: float, action: Callable[[], Any]) -> None:
        self.scheduler.schedule_absolute(float(t), lambda *_: action())

    def push(self, t: float, subject: Any, value: Any) -> None:
        self.at(t, lambda: subject.on_next(value))

    def record(self, stream: Observable[Any]) -> Recording:
        rec = Recording()
        self.subscriptions.append(stream.subscribe(
            lambda v: rec.values.append((round(self.now(), 6), v)),
            rec.errors.append,
            lambda: setattr(rec, "completed_at", round(self.now(), 6)),
        ))
        return rec

    def run(self, until: float) -> None:
        self.scheduler.advance_to(float(until))


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()
