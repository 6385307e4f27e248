"""Retries: which errors are retried, when, and that a stream is retried only before output."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from flowagents.errors import (
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
)
from flowagents.retry import Availability, AvailabilityChangedEvent, call_with_retry, retry_stream
from flowagents.runtime import run_virtual


def test_retries_retryable_errors_with_the_configured_intervals() -> None:
    async def main() -> tuple[str, list[float]]:
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def flaky() -> str:
            times.append(loop.time())
            if len(times) < 4:
                raise APIConnectionError()
            return "ok"

        return await call_with_retry(flaky), times

    result, times = run_virtual(main())
    assert result == "ok"
    assert times == [0.0, 0.0, 2.0, 4.0]  # first retry at once, then 2.0 s apart


def test_gives_up_after_max_retry_and_raises_the_last_error() -> None:
    calls = 0

    async def always() -> None:
        nonlocal calls
        calls += 1
        raise APIStatusError("busy", status_code=503)

    with pytest.raises(APIStatusError):
        run_virtual(call_with_retry(always, conn_options=APIConnectOptions(max_retry=2)))
    assert calls == 3


@pytest.mark.parametrize("exc", [APIStatusError("bad", status_code=400), ValueError("bug")])
def test_does_not_retry_non_retryable_errors(exc: Exception) -> None:
    calls = 0

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise exc

    with pytest.raises(type(exc)):
        run_virtual(call_with_retry(fail))
    assert calls == 1


def test_each_attempt_is_bounded_by_the_timeout() -> None:
    async def main() -> tuple[float, int]:
        attempts = 0

        async def hang() -> None:
            nonlocal attempts
            attempts += 1
            await asyncio.sleep(100)

        with pytest.raises(APITimeoutError):
            await call_with_retry(hang, conn_options=APIConnectOptions(
                max_retry=1, retry_interval=1.0, timeout=3.0))
        return asyncio.get_running_loop().time(), attempts

    assert run_virtual(main()) == (6.0, 2)  # two 3 s attempts, the retry immediate


def _stream(items: list[str], fail_after: int | None, opened: list[int]) -> AsyncIterator[str]:
    async def gen() -> AsyncIterator[str]:
        opened.append(1)
        for i, item in enumerate(items):
            if fail_after is not None and i == fail_after:
                raise APIConnectionError()
            yield item
    return gen()


def test_stream_is_retried_before_its_first_item() -> None:
    opened: list[int] = []
    fails = iter([0, 0, None])  # fails twice before any item, then succeeds

    async def main() -> list[str]:
        return [x async for x in retry_stream(lambda: _stream(["a", "b"], next(fails), opened))]

    assert run_virtual(main()) == ["a", "b"]
    assert len(opened) == 3


def test_stream_is_not_retried_after_an_item_was_delivered() -> None:
    opened: list[int] = []
    got: list[str] = []

    async def main() -> None:
        async for x in retry_stream(lambda: _stream(["a", "b"], 1, opened)):
            got.append(x)

    with pytest.raises(APIConnectionError):
        run_virtual(main())
    assert got == ["a"]
    assert len(opened) == 1


def test_stream_stall_times_out_and_closing_closes_the_provider_stream() -> None:
    closed: list[bool] = []

    async def slow() -> AsyncIterator[str]:
        try:
            yield "a"
            await asyncio.sleep(50)
            yield "b"
        finally:
            closed.append(True)

    async def main() -> list[str]:
        got: list[str] = []

        async def consume() -> None:
            async for x in retry_stream(slow, conn_options=APIConnectOptions(timeout=5)):
                got.append(x)

        with pytest.raises(APITimeoutError):
            await consume()
        agen = retry_stream(slow)
        assert await anext(agen) == "a"
        await agen.aclose()
        return got

    assert run_virtual(main()) == ["a"]
    assert closed == [True, True]


def test_availability_probe_brings_a_provider_back_and_is_cancelled_on_close() -> None:
    async def main() -> list[tuple[str, bool, float]]:
        loop = asyncio.get_running_loop()
        events: list[tuple[str, bool, float]] = []
        av = Availability(["a", "b"], recovery_interval=5.0)

        def record(e: AvailabilityChangedEvent[str]) -> None:
            events.append((e.provider, e.available, loop.time()))

        av.on_change(record)
        probes = 0

        async def probe() -> None:
            nonlocal probes
            probes += 1
            if probes < 3:
                raise APIConnectionError()

        av.mark_unavailable(0, probe)
        assert av.order() == [1]
        av.mark_unavailable(1, lambda: asyncio.sleep(1000))
        assert av.order() == [0, 1]  # none available: try them all
        await asyncio.sleep(20)
        assert av.order() == [0]
        await av.aclose()  # the probe of "b" still runs: it is cancelled
        return events

    assert run_virtual(main()) == [("a", False, 0.0), ("b", False, 0.0), ("a", True, 15.0)]
