"""Fixtures for runtime tests."""

from __future__ import annotations

import pytest
from reactivex.testing import TestScheduler


@pytest.fixture
def timeline_scheduler() -> TestScheduler:
    """A fresh virtual clock at 0 for graphs run without an event loop."""
    return TestScheduler()
