"""Which sessions a live graph view shows, and their per-node counters.

Off by default: a session counts nothing. ``INSPECTOR.enable()`` (the console's ``--inspect``,
the worker's HTTP server, or ``FLOWAGENTS_INSPECT=1``; ``=count`` counts values without timing
the nodes, as a worker's job process does until its page is watched) makes each session started
afterwards register here with a :class:`~flowagents.runtime.stats.GraphStats` that its graph's
wiring fills (values per node, the last one, the time spent). The page that shows them is served
by :mod:`flowagents.worker.inspect`.
"""

from __future__ import annotations

import itertools
import os
import weakref
from dataclasses import dataclass
from typing import Any

from flowagents.runtime.stats import GraphStats

__all__ = ["INSPECT_ENV", "INSPECTOR", "Inspector", "Watched"]

INSPECT_ENV = "FLOWAGENTS_INSPECT"


@dataclass(frozen=True, slots=True)
class Watched:
    """One watched session: its id on the page, the session (weakly held) and its counters."""

    id: str
    session: Any  # an AgentSession, read through a weak reference
    stats: GraphStats


class Inspector:
    """The registry of watched sessions (one per process)."""

    def __init__(self) -> None:
        mode = os.environ.get(INSPECT_ENV, "")
        self._enabled = mode not in ("", "0")
        self._ids = itertools.count(1)
        self._watched: dict[str, tuple[weakref.ref[Any], GraphStats]] = {}
        self._timing = mode != "count"  # "count": values only, until time_nodes(True)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def enable(self) -> None:
        self._enabled = True

    def time_nodes(self, on: bool) -> None:
        """Time each node's work (two clock reads per value and node), or only count values:
        a job process times while its worker's page is watched, which halves the cost else."""
        self._timing = on
        for _ref, stats in self._watched.values():
            stats.timing = on

    def watch(self, session: Any) -> GraphStats | None:
        """Counters for ``session``'s graph when inspection is on, else None (nothing counted)."""
        if not self._enabled:
            return None
        stats = GraphStats()
        stats.timing = self._timing
        self._watched[f"session-{next(self._ids)}"] = (weakref.ref(session), stats)
        return stats

    def sessions(self) -> list[Watched]:
        """The watched sessions still running, oldest first."""
        out = []
        for key, (ref, stats) in list(self._watched.items()):
            session = ref()
            if session is None or getattr(session, "_closed", False):
                del self._watched[key]
                continue
            out.append(Watched(key, session, stats))
        return out


INSPECTOR = Inspector()
