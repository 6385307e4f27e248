"""Async bridges: async iterators and coroutines as observables, and back.

A provider speaks asyncio (an HTTP stream, a model in an executor); a graph speaks Rx.
Subscribing to :func:`from_async_iterable` starts a task on the loop that forwards each item;
disposing the subscription cancels that task, which closes the iterator (``aclose``), so an HTTP
stream is closed and a model call is abandoned. Errors arrive as ``on_error``. Every task is
owned by its subscription: nothing is fire-and-forget.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = ["from_async_iterable", "from_coroutine", "to_async_iterator"]

_T = TypeVar("_T")


def from_async_iterable(
    factory: Callable[[], AsyncIterable[_T]],
    loop: asyncio.AbstractEventLoop | None = None,
) -> Observable[_T]:
    """A cold observable that iterates a fresh ``factory()`` per subscription, on the loop.

    Must be subscribed on the loop's thread. Disposal cancels the task and closes the iterator.
    """

    def subscribe(observer: abc.ObserverBase[_T], _: abc.SchedulerBase | None = None) -> Any:
        the_loop = loop or asyncio.get_running_loop()

        async def pump() -> None:
            iterable = factory()
            try:
                async for item in iterable:
                    observer.on_next(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an error of the stream is the observer's, not the loop's
                observer.on_error(exc)
                return
            finally:
                aclose = getattr(iterable, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            observer.on_completed()

        task = the_loop.create_task(pump())

        def cancel() -> None:
            task.cancel()

        return Disposable(cancel)

    return reactivex.create(subscribe)


def from_coroutine(
    factory: Callable[[], Awaitable[_T]],
    loop: asyncio.AbstractEventLoop | None = None,
) -> Observable[_T]:
    """A cold observable that awaits ``factory()`` per subscription and emits its one result.

    One task per subscription, no async generator around the coroutine: a reply runs one of
    these per user turn, on the path from the end of speech to the first audio.
    """

    def subscribe(observer: abc.ObserverBase[_T], _: abc.SchedulerBase | None = None) -> Any:
        the_loop = loop or asyncio.get_running_loop()

        async def run() -> None:
            try:
                value = await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the coroutine's error is the observer's, not the loop's
                observer.on_error(exc)
                return
            observer.on_next(value)
            observer.on_completed()

        task = the_loop.create_task(run())

        def cancel() -> None:
            task.cancel()

        return Disposable(cancel)

    return reactivex.create(subscribe)


async def to_async_iterator(source: Observable[_T], maxsize: int = 0) -> AsyncIterator[_T]:
    """Iterate an observable from async code; leaving the loop early disposes the subscription.

    Items are queued without loss (``maxsize`` 0 = unbounded); an ``on_error`` is raised here.
    """
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(maxsize)
    subscription = source.subscribe(
        on_next=lambda x: queue.put_nowait((0, x)),
        on_error=lambda e: queue.put_nowait((1, e)),
        on_completed=lambda: queue.put_nowait((2, None)),
    )
    try:
        while True:
            kind, value = await queue.get()
            if kind == 0:
                yield value
            elif kind == 1:
                raise value
            else:
                return
    finally:
        subscription.dispose()
