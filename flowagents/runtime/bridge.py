"""Async bridges: async iterators and coroutines as observables, and back.

A provider speaks asyncio (an HTTP stream, a model in an executor); a graph speaks Rx.
Subscribing to :func:`from_async_iterable` starts a task on the loop that forwards each item;
disposing the subscription cancels that task, which closes the iterator (``aclose``), so an HTTP
stream is closed and a model call is abandoned. Errors arrive as ``on_error``. Every task is
owned by its subscription: nothing is fire-and-forget.

A reply subscribes several of these per user turn, on the path from the end of speech to the
first audio, so they are :class:`DirectObservable` values: a subscription calls the subscribe
function at once, without reactivex's current-thread trampoline and auto-detach wrapper (a few
dozen calls per subscription); the bridge itself stops forwarding once disposed or ended.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

from reactivex import Observable, abc
from reactivex.internal import default_error, noop

__all__ = ["DirectObservable", "Sink", "SinkOwner", "from_async_iterable", "from_coroutine",
           "running_eagerly", "to_async_iterator"]

_T = TypeVar("_T")


class Sink(abc.ObserverBase[_T], abc.DisposableBase):
    """An observer's callbacks, forwarded until the end (``on_error``/``on_completed``) or until
    disposed, whichever comes first: what reactivex's auto-detach observer guarantees. A hot
    source that checks ``stopped`` itself may call ``handle_next`` directly (a call less per
    value).

    A sink is also its subscription's disposable: a hot source that holds it sets ``owner``,
    and disposing the sink detaches it from there (no separate object per subscription). Of an
    observer object only ``on_next`` is bound once, for the hot path; its ``on_error`` and
    ``on_completed`` are looked up when they happen (two bound methods less per subscription,
    and a session holds about a hundred subscriptions for as long as it runs).
    """

    __slots__ = ("handle_completed", "handle_error", "handle_next", "owner", "stopped",
                 "target")

    def __init__(self, observer: Any, on_error: Any = None, on_completed: Any = None) -> None:
        if callable(getattr(observer, "on_next", None)):
            self.target: abc.ObserverBase[_T] | None = observer
            self.handle_next: Callable[[_T], None] = observer.on_next
            self.handle_error: Callable[[Exception], None] = default_error
            self.handle_completed: Callable[[], None] = noop
        else:
            self.target = None
            self.handle_next = observer or noop
            self.handle_error = on_error or default_error
            self.handle_completed = on_completed or noop
        self.stopped = False
        self.owner: SinkOwner | None = None

    def on_next(self, value: _T) -> None:
        if not self.stopped:
            self.handle_next(value)

    def on_error(self, error: Exception) -> None:
        if not self.stopped:
            self.stopped = True
            target = self.target
            if target is not None:
                target.on_error(error)
            else:
                self.handle_error(error)

    def on_completed(self) -> None:
        if not self.stopped:
            self.stopped = True
            target = self.target
            if target is not None:
                target.on_completed()
            else:
                self.handle_completed()

    def dispose(self) -> None:
        self.stopped = True
        owner = self.owner
        if owner is not None:
            self.owner = None
            owner.detach(self)


class SinkOwner(Protocol):
    """A hot source that holds its subscribers' sinks (a subject, a fan-out)."""

    def detach(self, sink: Sink[Any], /) -> None: ...


LOOP_LOCK = threading.RLock()
"""The one lock the loop thread's lock-free observables and subjects hold for reactivex's code
paths that take one (a lock per object is a long-lived object per edge of every session, and the
graph runs on one thread)."""


class DirectObservable(Observable[_T]):
    """An observable whose ``subscribe`` hands a :class:`Sink` straight to its subscribe
    function (see the module docstring). The function returns what disposes its work. A
    subclass that keeps long-lived state may define ``_direct`` as a method instead (one object
    with slots-like attributes, not a closure and its cells)."""

    def __init__(self, subscribe: Callable[[Sink[_T]], abc.DisposableBase]) -> None:
        # not Observable.__init__: its lock is never taken here (subscribe is overridden)
        self.lock = LOOP_LOCK
        self._direct = subscribe

    def subscribe(
        self, on_next: Any = None, on_error: Any = None, on_completed: Any = None, *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return self._direct(Sink(on_next, on_error, on_completed))

    def _subscribe_core(self, observer: abc.ObserverBase[_T],
                        scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        return self._direct(Sink(observer))


class Dispose(abc.DisposableBase):
    """Calls ``action`` once when disposed: reactivex's ``Disposable`` without its lock (loop
    thread only)."""

    __slots__ = ("action",)

    def __init__(self, action: Callable[[], None]) -> None:
        self.action: Callable[[], None] | None = action

    def dispose(self) -> None:
        action, self.action = self.action, None
        if action is not None:
            action()


class _TaskSubscription(abc.DisposableBase):
    __slots__ = ("sink", "task")

    def __init__(self, sink: Sink[Any], task: asyncio.Task[None]) -> None:
        self.sink, self.task = sink, task

    def dispose(self) -> None:
        self.sink.stopped = True
        self.task.cancel()


class _Started(Coroutine[Any, Any, None]):
    """A coroutine already run up to its first suspension, handed to a task: the task's first
    step returns what it yielded there, every later step goes to the coroutine."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self.coro, self.first = coro, first

    def send(self, value: Any) -> Any:
        first = self.first
        if first is not _NOTHING:
            self.first = _NOTHING
            return first
        return self.coro.send(value)

    def throw(self, *args: Any) -> Any:
        self.first = _NOTHING
        return self.coro.throw(*args)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, None]:  # pragma: no cover - tasks use send
        raise TypeError("not awaitable")


_NOTHING: Any = object()


_EAGER: contextvars.ContextVar[bool] = contextvars.ContextVar("flowagents_eager", default=False)


def running_eagerly() -> bool:
    """Whether the code calling this runs in an eager start (``from_async_iterable(...,
    eager=True)``), before its first suspension: in the subscriber's task, not its own. There
    ``asyncio.current_task()`` names the subscriber, so an ``asyncio.timeout`` entered then
    would cancel the wrong task: code that times a wait suspends first (``await
    asyncio.sleep(0)``)."""
    return _EAGER.get()


def _start_eagerly(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
                   ) -> asyncio.Task[None] | None:
    """Run ``coro`` now up to its first suspension (in a copy of the current context, as a task
    would) and continue it as a task on ``loop``; None if it finished meanwhile."""
    context = contextvars.copy_context()
    context.run(_EAGER.set, True)
    try:
        first = context.run(coro.send, None)
    except StopIteration:
        return None
    finally:
        context.run(_EAGER.set, False)
    return loop.create_task(_Started(coro, first), context=context)


def from_async_iterable(
    factory: Callable[[], AsyncIterable[_T]],
    loop: asyncio.AbstractEventLoop | None = None,
    *,
    eager: bool = False,
) -> Observable[_T]:
    """A cold observable that iterates a fresh ``factory()`` per subscription, on the loop.

    Must be subscribed on the loop's thread. Disposal cancels the task and closes the iterator.
    ``eager``: the subscription runs the iteration at once up to its first suspension (items
    already available reach the observer during ``subscribe``), then goes on in a task, as
    Python 3.12's eager tasks do: a loop hop less before the first item. Only for subscribers
    that accept values during ``subscribe``.
    """

    def subscribe(sink: Sink[_T]) -> abc.DisposableBase:
        the_loop = loop or asyncio.get_running_loop()

        async def pump() -> None:
            iterable = factory()
            try:
                async for item in iterable:
                    sink.on_next(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an error of the stream is the observer's, not the loop's
                sink.on_error(exc)
                return
            finally:
                aclose = getattr(iterable, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            sink.on_completed()

        if eager:
            task = _start_eagerly(the_loop, pump())
            if task is None:
                return sink
            return _TaskSubscription(sink, task)
        return _TaskSubscription(sink, the_loop.create_task(pump()))

    return DirectObservable(subscribe)


def from_coroutine(
    factory: Callable[[], Awaitable[_T]],
    loop: asyncio.AbstractEventLoop | None = None,
    *,
    skip_none: bool = False,
) -> Observable[_T]:
    """A cold observable that awaits ``factory()`` per subscription and emits its one result
    (``skip_none``: a None result completes without a value).

    One task per subscription, no async generator around the coroutine: a reply runs one of
    these per user turn, on the path from the end of speech to the first audio.
    """

    def subscribe(sink: Sink[_T]) -> abc.DisposableBase:
        the_loop = loop or asyncio.get_running_loop()

        async def run() -> None:
            try:
                value = await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the coroutine's error is the observer's, not the loop's
                sink.on_error(exc)
                return
            if value is not None or not skip_none:
                sink.on_next(value)
            sink.on_completed()

        return _TaskSubscription(sink, the_loop.create_task(run()))

    return DirectObservable(subscribe)


async def to_async_iterator(source: Observable[_T]) -> AsyncIterator[_T]:
    """Iterate an observable from async code; leaving the loop early disposes the subscription.

    Items are queued without loss; an ``on_error`` is raised here. A deque and one waiter
    instead of an ``asyncio.Queue``: the STT node iterates audio frames through this, and a reply
    its text (a dozen calls less per item).
    """
    inbox = _Inbox()
    subscription = source.subscribe(inbox.next, inbox.error, inbox.completed)
    items = inbox.items
    try:
        while True:
            if not items:
                await inbox.wait()
            kind, value = items.popleft()
            if kind is _NEXT:
                yield value
            elif kind is _ERROR:
                raise value
            else:
                return
    finally:
        subscription.dispose()


_NEXT, _ERROR, _END = object(), object(), object()


class _Inbox:
    """An unbounded single-consumer queue of (kind, value): a producer never waits."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: collections.deque[tuple[object, Any]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None

    def _put(self, item: tuple[object, Any]) -> None:
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def next(self, value: Any) -> None:
        self._put((_NEXT, value))

    def error(self, exc: Exception) -> None:
        self._put((_ERROR, exc))

    def completed(self) -> None:
        self._put((_END, None))

    async def wait(self) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter


async def iterate_queue(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    """Yield a producer task's results from ``queue`` until ``None``; an exception put there is
    raised here (how a stream adapter hands its background work to the consumer)."""
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
