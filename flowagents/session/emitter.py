"""EventEmitter: ``on(name, callback)`` listeners and a hot stream of every event.

LiveKit's ``AgentSession`` is an event emitter; so is ours. A listener may be a coroutine
function: its coroutine runs as a task the session owns (``spawn``). A failing listener is
logged and the others still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from reactivex import Observable
from reactivex.subject import Subject

from flowagents.runtime.subject import LoopSubject
from flowagents.voice.events import AgentEvent

__all__ = ["EventEmitter"]

logger = logging.getLogger("flowagents.voice")


class EventEmitter:
    """Listeners by event name, and :attr:`events`, every event as a hot observable."""

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._listeners: dict[str, list[Callable[[Any], Any]]] = {}
        self._events: Subject[AgentEvent] = LoopSubject()
        self._spawn_listener = spawn

    @property
    def events(self) -> Observable[AgentEvent]:
        """Every event, as a hot observable."""
        return self._events

    def on(self, event: str, callback: Callable[[Any], Any] | None = None) -> Any:
        """Call ``callback(ev)`` on each ``event``; usable as a decorator."""
        def register(cb: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self._listeners.setdefault(event, []).append(cb)
            return cb

        return register(callback) if callback is not None else register

    def off(self, event: str, callback: Callable[[Any], Any]) -> None:
        self._listeners.get(event, []).remove(callback)

    def _emit(self, event: AgentEvent) -> None:
        for cb in list(self._listeners.get(event.type, ())):
            try:
                result = cb(event)
                if asyncio.iscoroutine(result):
                    self._spawn_listener(result)
            except Exception:
                logger.exception("event listener failed", extra={"event": event.type})
        self._events.on_next(event)
