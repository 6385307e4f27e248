"""Retrying provider calls, and tracking which providers of a fallback chain are healthy.

The framework, not each provider, decides how hard to try: :func:`call_with_retry` runs one
provider call under :class:`~flowagents.errors.APIConnectOptions` (each attempt bounded by
``timeout``, up to ``max_retry`` retries, only for an :class:`~flowagents.errors.APIError` that
says it is ``retryable``; a service's ``retry_after`` is the least wait before the next one).
:func:`retry_stream` does the same for a streamed reply, but only until its first item was
delivered: after that a retry would repeat output the user already heard.
Waits use the running loop (``asyncio.sleep``), so they are virtual in tests.

:class:`Availability` is the shared bookkeeping of the fallback adapters: which providers are up,
the ``availability_changed`` events, and the recovery probes it owns and cancels on ``aclose()``.
:class:`FallbackChain` is the rest of what the LLM, STT and TTS fallback adapters share: each
provider's retry budget, the chain's label, and the failover policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APITimeoutError,
)

__all__ = [
    "Availability",
    "AvailabilityChangedEvent",
    "FallbackChain",
    "call_with_retry",
    "is_retryable",
    "retry_stream",
]

logger = logging.getLogger("flowagents.retry")

T = TypeVar("T")
P = TypeVar("P")


def is_retryable(exc: BaseException) -> bool:
    """Whether repeating the call may help: a typed provider error that says so."""
    return isinstance(exc, APIError) and exc.retryable


def _wait(options: APIConnectOptions, failed: int, exc: BaseException | None) -> float:
    """Seconds to wait after ``failed`` attempts failed, the last with ``exc``."""
    interval = options.interval_for(failed - 1)
    asked = getattr(exc, "retry_after", None)  # a 429's Retry-After is a floor
    return max(interval, asked) if isinstance(asked, int | float) else interval


def _retrying(options: APIConnectOptions, label: str,
              retry_if: Callable[[BaseException], bool] = is_retryable,
              done: int = 0) -> AsyncRetrying:
    """Tenacity's loop for the attempts left after ``done`` failed ones."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return _wait(options, done + state.attempt_number, exc)

    def before_sleep(state: RetryCallState) -> None:
        logger.warning("provider call failed, retrying",
                       extra={"provider": label, "attempt": done + state.attempt_number})

    return AsyncRetrying(
        stop=stop_after_attempt(options.max_retry + 1 - done),
        wait=wait,
        retry=retry_if_exception(retry_if),
        before_sleep=before_sleep,
        sleep=asyncio.sleep,
        reraise=True,
    )


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    *,
    conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    label: str = "provider",
) -> T:
    """Await ``call()`` until it succeeds, under ``conn_options``.

    A timed-out attempt raises :class:`APITimeoutError` (retryable). Errors that are not
    retryable, and the last error once retries are spent, are raised as they are.
    """
    async for attempt in _retrying(conn_options, label):
        with attempt:
            try:
                async with asyncio.timeout(conn_options.timeout):
                    return await call()
            except TimeoutError:
                raise APITimeoutError() from None
    raise AssertionError("unreachable")  # pragma: no cover  (reraise=True always raises)


async def retry_stream(
    open_stream: Callable[[], AsyncIterator[T]],
    *,
    conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    label: str = "provider",
) -> AsyncGenerator[T, None]:
    """Iterate ``open_stream()``, reopening it on a retryable failure before the first item.

    ``timeout`` bounds the wait for each item (a stream may last long, but must not stall).
    Once an item was yielded, a failure is raised as is: the caller decides what to do with a
    half-delivered reply. Closing this generator closes the provider's stream.

    The first attempt runs outside tenacity: a reply's LLM call and each TTS sentence pass
    through here on the way to the first audio, where building the retry loop would cost every
    turn ~50 µs; the retries after a failure run under tenacity, as ``call_with_retry``'s.
    """
    delivered = False

    def retry_if(exc: BaseException) -> bool:
        return not delivered and is_retryable(exc)

    stream = _bounded(open_stream(), conn_options.timeout)
    try:
        async for item in stream:
            delivered = True
            yield item
        return
    except Exception as exc:
        if conn_options.max_retry == 0 or not retry_if(exc):
            raise
        logger.warning("provider call failed, retrying", extra={"provider": label, "attempt": 1})
        wait = _wait(conn_options, 1, exc)
    finally:
        await stream.aclose()  # at once: leaving ``async for`` early does not close it
    await asyncio.sleep(wait)
    async for attempt in _retrying(conn_options, label, retry_if, done=1):
        with attempt:
            stream = _bounded(open_stream(), conn_options.timeout)
            try:
                async for item in stream:
                    delivered = True
                    yield item
            finally:
                await stream.aclose()


_WATCH_STEP = 1.0  # seconds between a stream watchdog's looks


class _Watchdog:
    """Fires ``deadline`` (an entered ``asyncio.timeout``) once a wait for an item has lasted
    ``limit`` s. One loop timer per stream, rung at most every :data:`_WATCH_STEP` s: a timer
    per item would cost calls per audio chunk, and cancelled handles stay in the loop's timer
    heap until their time (every timer of the session, audio frames included, pays for the
    heap's depth), so none is armed far ahead."""

    __slots__ = ("deadline", "handle", "limit", "loop", "since", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: asyncio.Timeout,
                 limit: float) -> None:
        self.loop, self.deadline, self.limit = loop, deadline, limit
        self.since = loop.time()
        self.waiting = False
        self.handle = loop.call_at(self.since + min(limit, _WATCH_STEP), self.ring)

    def wait(self) -> None:
        self.since, self.waiting = self.loop.time(), True

    def ring(self) -> None:
        now = self.loop.time()
        due = self.since + self.limit
        if self.waiting and now >= due - 1e-9:
            self.deadline.reschedule(now)  # asyncio's timeout cancels the wait, as its own
            return
        self.handle = self.loop.call_at(
            min(due, now + _WATCH_STEP) if self.waiting else now + _WATCH_STEP, self.ring)

    def stop(self) -> None:
        self.handle.cancel()


async def _bounded(stream: AsyncIterator[T], item_timeout: float) -> AsyncGenerator[T, None]:
    """``stream``'s items, each awaited at most ``item_timeout`` s (a stall raises
    :class:`APITimeoutError`; the consumer's time between items does not count); closing this
    generator closes ``stream``. Iterate it from one task: the task that enters the timeout is
    the one it cancels."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(None) as deadline:
            watchdog = _Watchdog(loop, deadline, item_timeout)
            try:
                while True:
                    watchdog.wait()
                    try:
                        item = await anext(stream)
                    except StopAsyncIteration:
                        return
                    watchdog.waiting = False
                    yield item
            finally:
                watchdog.stop()
    except TimeoutError:
        raise APITimeoutError() from None
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True, slots=True)
class AvailabilityChangedEvent(Generic[P]):
    """A provider of a fallback chain went down (after its retries) or came back up."""

    provider: P
    available: bool


class Availability(Generic[P]):
    """Which providers of a fallback chain are up, and the probes that bring them back.

    A provider marked down gets one recovery task (owned here, cancelled by :meth:`aclose`) that
    runs ``probe()`` every ``recovery_interval`` seconds until it succeeds; then the provider is
    up again and, being earlier in the chain, preferred again.
    """

    def __init__(self, providers: Sequence[P], *, recovery_interval: float = 5.0,
                 probe_timeout: float = 10.0) -> None:
        if not providers:
            raise ValueError("a fallback chain needs at least one provider")
        self.providers = list(providers)
        self.available = [True] * len(self.providers)
        self.recovery_interval = recovery_interval
        self.probe_timeout = probe_timeout
        self._listeners: list[Callable[[AvailabilityChangedEvent[P]], None]] = []
        self._probes: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    def on_change(self, callback: Callable[[AvailabilityChangedEvent[P]], None]) -> None:
        self._listeners.append(callback)

    def order(self) -> list[int]:
        """Indices to try, in order: the available ones, or all of them if none is."""
        up = [i for i, ok in enumerate(self.available) if ok]
        return up or list(range(len(self.providers)))

    def mark_available(self, index: int) -> None:
        if not self.available[index]:
            self.available[index] = True
            self._emit(index, True)

    def mark_unavailable(self, index: int, probe: Callable[[], Awaitable[Any]] | None) -> None:
        """Take a provider out of rotation; ``probe`` (if any) tests whether it recovered."""
        if self.available[index]:
            self.available[index] = False
            self._emit(index, False)
        if probe is not None and not self._closed and index not in self._probes:
            task = asyncio.get_running_loop().create_task(self._recover(index, probe))
            self._probes[index] = task
            task.add_done_callback(lambda _t: self._probes.pop(index, None))

    async def _recover(self, index: int, probe: Callable[[], Awaitable[Any]]) -> None:
        while not self.available[index]:
            await asyncio.sleep(self.recovery_interval)
            try:
                async with asyncio.timeout(self.probe_timeout):
                    await probe()
            except Exception:
                logger.info("recovery probe failed", extra={"provider_index": index})
                continue
            self.mark_available(index)

    def _emit(self, index: int, available: bool) -> None:
        event = AvailabilityChangedEvent(self.providers[index], available)
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                logger.exception("availability_changed callback failed")

    async def aclose(self) -> None:
        """Cancel the recovery probes and wait for them to end."""
        self._closed = True
        tasks = list(self._probes.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class FallbackChain(Generic[P]):
    """The providers of a fallback adapter in order, with what every adapter does alike.

    ``kind`` names them in messages ("LLM", "STT", "TTS"). Each provider gets its own short
    budget (:attr:`options`: ``max_retry`` retries of ``attempt_timeout`` s, ``retry_interval``
    apart); :meth:`failover` decides what a failure after it means (see there); when every
    provider failed, :meth:`exhausted` is the error to raise (not retryable: the chain was the
    retry).
    """

    def __init__(self, providers: Sequence[P], kind: str, *, attempt_timeout: float,
                 max_retry: int, retry_interval: float, recovery_interval: float) -> None:
        if not providers:
            raise ValueError(f"a fallback chain needs at least one {kind}")
        self.kind = kind
        self.providers = list(providers)
        self.availability: Availability[P] = Availability(
            self.providers, recovery_interval=recovery_interval, probe_timeout=attempt_timeout)
        self.options = APIConnectOptions(max_retry=max_retry, retry_interval=retry_interval,
                                         timeout=attempt_timeout)
        #: one attempt, no retry: what a recovery probe runs with
        self.probe_options = APIConnectOptions(max_retry=0, timeout=attempt_timeout)
        self.label = "fallback(" + ",".join(_label(p) for p in self.providers) + ")"

    def order(self) -> list[tuple[int, P]]:
        """The providers to try, in order (the available ones, or all if none is)."""
        return [(i, self.providers[i]) for i in self.availability.order()]

    def on(self, event: Literal["availability_changed"],
           callback: Callable[[AvailabilityChangedEvent[P]], None]) -> None:
        if event != "availability_changed":
            raise ValueError(f"unknown event {event!r}")
        self.availability.on_change(callback)

    def failover(self, index: int, error: APIError,
                 probe: Callable[[], Awaitable[Any]], *, delivered: bool = False) -> None:
        """Provider ``index`` failed after its retries. A failure that is not retryable, or
        that comes after output was ``delivered`` (the user may have heard it), is raised: the
        next provider cannot take over. Otherwise the provider goes out of rotation (``probe``
        brings it back) and the caller tries the next one."""
        if delivered or not error.retryable:
            raise error
        logger.warning("provider failed, trying the next one",
                       extra={"kind": self.kind, "provider": _label(self.providers[index])})
        self.availability.mark_unavailable(index, probe)

    def exhausted(self) -> APIConnectionError:
        return APIConnectionError(f"all {self.kind}s failed", retryable=False)

    async def aclose(self) -> None:
        """Stop the recovery probes (the providers are owned by the caller)."""
        await self.availability.aclose()


def _label(provider: Any) -> str:
    return str(getattr(provider, "label", type(provider).__name__))
