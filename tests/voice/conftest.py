"""Helpers for the voice scenario tests: run a simulation on a fresh virtual-time loop."""

from __future__ import annotations

from typing import Any

import pytest

from flowagents.runtime import run_virtual
from flowagents.testing import Script, SimulationResult, simulate
from flowagents.voice import Agent


def run(script: Script, agent: Agent | None = None, **kwargs: Any) -> SimulationResult:
    """``simulate`` on a new virtual loop (the scenario tests' one entry point)."""
    return run_virtual(simulate(script, agent=agent or Agent(instructions="Be helpful."),
                                **kwargs))


def approx(value: Any) -> Any:
    return pytest.approx(value, abs=1e-6)


def timeline(result: SimulationResult, *types: str) -> list[tuple[float, str]]:
    """``(rounded emission time, type)`` of the events of the given types (all if none)."""
    return [(round(e.time, 6), e.type) for e in result.events if not types or e.type in types]


def states(pairs: list[tuple[float, str]]) -> list[tuple[float, str]]:
    return [(round(t, 6), s) for t, s in pairs]
