"""EventEmitter: ``on(name, callback)`` listeners and a hot stream of every event.

LiveKit's ``AgentSession`` is an event emitter; so is ours. A listener may be a coroutine
function: its coroutine runs as a task the session owns (``spawn``). A failing listener is
logged and the others still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, get_args

from reactivex import Observable
from reactivex.subject import Subject

from flowagents.callbacks import check_callback, is_async_callable
from flowagents.runtime.subject import LoopSubject
from flowagents.voice.events import AgentEvent

__all__ = ["EVENT_NAMES", "EventEmitter"]

logger = logging.getLogger("flowagents.voice")

EVENT_NAMES = frozenset(event.type for event in get_args(AgentEvent))
"""The names :meth:`EventEmitter.on` accepts: those of the events the session emits."""


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
        """Call ``callback(ev)`` on each ``event``; usable as a decorator. An event name the
        session never emits is refused (``ValueError`` listing those it does), as is a
        listener that cannot take the event (``TypeError``)."""
        if event not in EVENT_NAMES:
            raise ValueError(f"AgentSession.on: no event {event!r}; the session emits "
                             f"{', '.join(sorted(EVENT_NAMES))}")

        def register(cb: Callable[[Any], Any]) -> Callable[[Any], Any]:
            if not is_async_callable(cb):  # an async one is run as a task
                check_callback(cb, where=f"AgentSession.on({event!r})", is_async=False,
                               args=(1,), expects="def callback(event) or async def "
                                                  "callback(event)")
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
