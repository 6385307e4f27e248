"""Running graphs out of the garbage collector's reach: ``gc.freeze()`` once a graph is built.

A running voice session holds about two thousand long-lived, garbage-collected objects (its
closures, subjects, subscriptions and node state), and they live as long as the session. CPython's
full collection visits every tracked object, so with hundreds of sessions in one process one
full collection stalls the loop for hundreds of milliseconds and every session's frames run late.
Objects in the permanent generation (``gc.freeze()``) are never visited, and they are still freed
as usual when their reference count drops to zero.

The price: an object frozen while alive that later becomes garbage held only by a reference cycle
is not freed while it stays frozen (a closed session leaves a few hundred such objects). So
freezing is *held*: each running session holds it, and when the last hold is released (the last
session of the process closed) everything is unfrozen and the next full collection frees that
garbage. A worker runs each job in its own process, so there the holds end with the job; a
process that runs many sessions and is never without one keeps closed sessions' cyclic garbage
until it is (``set_enabled(False)`` turns freezing off).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

__all__ = ["enabled", "hold_frozen", "holds", "set_enabled"]


class _Holds:
    __slots__ = ("count", "enabled", "frozen")

    def __init__(self) -> None:
        self.count = 0
        self.enabled = True
        self.frozen = False  # whether a hold froze since the last unfreeze


_state = _Holds()


def set_enabled(enabled: bool) -> None:
    """Whether :func:`hold_frozen` freezes (holds taken meanwhile still count)."""
    _state.enabled = enabled


def enabled() -> bool:
    return _state.enabled


def holds() -> int:
    """How many holds are open (running sessions, in a process of sessions)."""
    return _state.count


def hold_frozen() -> Callable[[], None]:
    """Collect, then freeze every object alive now; return what releases this hold (once).

    The first hold collects the young generations only (a full collection of a process that has
    just imported its stack costs tens of milliseconds, at a session's start); a later one
    collects fully, which is cheap because everything older is frozen, so garbage is not frozen
    with the new graph. (Whether something is frozen is this module's own flag:
    ``gc.get_freeze_count()`` walks every frozen object, 16 ms per session start with a hundred
    sessions running, a stall of the loop that all of them share.)"""
    if _state.enabled:
        gc.collect(2 if _state.frozen else 1)
        gc.freeze()
        _state.frozen = True
    _state.count += 1
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        _state.count -= 1
        if _state.count == 0:
            gc.unfreeze()
            _state.frozen = False

    return release
