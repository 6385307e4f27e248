"""EventEmitter: named callbacks for the few long-lived objects that announce state changes.

The worker and the inference process tell their owners about events (``job_started``,
``restarted``...) through plain callbacks. A listener that raises is logged and does not stop the
others or the emitter: an observer's bug must not take down a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EventEmitter"]

logger = logging.getLogger("flowagents.events")


class EventEmitter:
    """``on(event, fn)`` registers, ``off`` removes, ``_emit(event, *args)`` calls in order."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., Any]]] = {}

    def on(self, event: str, fn: Callable[..., Any]) -> None:
        self._listeners.setdefault(event, []).append(fn)

    def off(self, event: str, fn: Callable[..., Any]) -> None:
        listeners = self._listeners.get(event, [])
        if fn in listeners:
            listeners.remove(fn)

    def _emit(self, event: str, *args: Any) -> None:
        for fn in list(self._listeners.get(event, ())):
            try:
                fn(*args)
            except Exception:
                logger.exception("event listener failed", extra={"event": event,
                                                                 "emitter": type(self).__name__})
