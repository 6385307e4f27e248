"""SpeechHandle: what ``say`` and ``generate_reply`` return, to await, watch or interrupt."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Generator
from typing import Any

from reactivex import Observable, abc

from flowagents.llm import ChatItem

from .states import SpeechSource

__all__ = ["SpeechHandle"]

_ids = itertools.count(1)


class _Unwatch(abc.DisposableBase):
    """Unregisters an ``on_interrupted`` callback (lock-free: loop thread only)."""

    __slots__ = ("entry",)

    def __init__(self, entry: list[Callable[[], None] | None]) -> None:
        self.entry = entry

    def dispose(self) -> None:
        self.entry[0] = None


class SpeechHandle:
    """A reply in the making. ``await handle`` waits until it has played (or was interrupted)."""

    def __init__(self, *, allow_interruptions: bool, source: SpeechSource = "say",
                 user_initiated: bool = False) -> None:
        self.id = f"speech_{next(_ids)}"
        self.allow_interruptions = allow_interruptions
        self.source: SpeechSource = source
        self.user_initiated = user_initiated
        self.num_steps = 1
        self.chat_items: list[ChatItem] = []
        self._interrupted = False
        self._watchers: list[list[Callable[[], None] | None]] = []
        self._done: asyncio.Future[None] | None = None
        self._done_flag = False
        self._callbacks: list[Callable[[SpeechHandle], None]] = []

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def on_interrupted(self, callback: Callable[[], None]) -> abc.DisposableBase:
        """Call ``callback()`` once, when the speech is interrupted (at once if it already is);
        disposing the result unregisters it. What playout watches per speech: a callback, not a
        subject piped through operators, since a subscription is set up per reply."""
        if self._interrupted:
            callback()
            return _Unwatch([None])
        entry: list[Callable[[], None] | None] = [callback]
        self._watchers.append(entry)
        return _Unwatch(entry)

    @property
    def interrupted_stream(self) -> Observable[bool]:
        """Emits True once, when the speech is interrupted (replays it to late subscribers)."""

        def subscribe(observer: abc.ObserverBase[bool],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            def fire() -> None:
                observer.on_next(True)
                observer.on_completed()

            return self.on_interrupted(fire)

        return Observable(subscribe)

    def done(self) -> bool:
        return self._done_flag

    def interrupt(self, *, force: bool = False) -> SpeechHandle:
        """Stop this speech (its LLM, TTS and playout). Refused when it disallows interruptions,
        unless ``force``."""
        if not force and not self.allow_interruptions:
            raise RuntimeError("this speech does not allow interruptions")
        if not self._done_flag and not self._interrupted:
            self._interrupted = True
            watchers, self._watchers = self._watchers, []
            for entry in watchers:
                callback = entry[0]
                if callback is not None:  # not unregistered by an earlier one
                    entry[0] = None
                    callback()
        return self

    def add_done_callback(self, callback: Callable[[SpeechHandle], None]) -> None:
        if self._done_flag:
            callback(self)
        else:
            self._callbacks.append(callback)

    async def wait_for_playout(self) -> None:
        if self._done_flag:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)

    def __await__(self) -> Generator[Any, None, SpeechHandle]:
        yield from self.wait_for_playout().__await__()
        return self

    def _mark_done(self) -> None:
        if self._done_flag:
            return
        self._done_flag = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        for callback in self._callbacks:
            callback(self)
        self._callbacks.clear()

    def __repr__(self) -> str:
        return f"SpeechHandle({self.id}, interrupted={self.interrupted}, done={self.done()})"
