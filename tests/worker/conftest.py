"""Fixtures for the worker tests: a fake LiveKit server, workers with fast timers, and a log check.

Every worker test runs under :func:`log_lines`: each record logged in the test process (the
worker's, and the job processes' relayed to it) is formatted as the CLI would (text and JSON), and
no line may contain the API secret, a JWT, or the room token the fake server hands out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer
from wk_entrypoints import prewarm, scripted

from flowagents.worker import Worker, WorkerOptions
from flowagents.worker.logs import TextFormatter, json_formatter

MakeWorker = Callable[..., Awaitable[Worker]]

ROOM_TOKEN = "room-token"  # what FakeLiveKitServer.assign hands the job
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


class LogLines(logging.Handler):
    """Every record of the test, formatted as text and as JSON lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self._text = TextFormatter()
        self._json = json_formatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self._text.format(record))
        self.lines.append(self._json.format(record))

    def leaks(self) -> list[str]:
        return [line for line in self.lines
                if API_SECRET in line or ROOM_TOKEN in line or JWT.search(line)]


@pytest.fixture(autouse=True)
def log_lines() -> Iterator[LogLines]:
    """Capture every log line of the test; fail it if any line carries a secret."""
    handler = LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert handler.leaks() == []


@pytest.fixture
async def server() -> AsyncIterator[FakeLiveKitServer]:
    srv = FakeLiveKitServer()
    await srv.start()
    yield srv
    await srv.aclose()


def fast_options(url: str, **overrides: Any) -> WorkerOptions:
    """Worker options with test-sized timers against ``url`` (``overrides`` win)."""
    opts: dict[str, Any] = dict(
        entrypoint_fnc=scripted, prewarm_fnc=prewarm, ws_url=url, api_key=API_KEY,
        api_secret=API_SECRET, num_idle_processes=1, load_fnc=lambda: 0.0,
        update_status_interval=0.2, retry_base_delay=0.05, retry_max_delay=0.2,
        initialize_process_timeout=5.0, shutdown_process_timeout=2.0,
        memory_check_interval=0.05, process_ping_interval=0.5, port=0, host="127.0.0.1",
        process_restart_base_delay=0.05, process_restart_max_delay=0.4, connect_timeout=2.0)
    opts.update(overrides)
    return WorkerOptions(**opts)


@pytest.fixture
async def make_worker(server: FakeLiveKitServer) -> AsyncIterator[MakeWorker]:
    """Start workers against ``server`` (fast timers); all are closed at the end of the test.

    ``worker.run_task`` is the task running ``worker.run()``.
    """
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def make(*, dev_mode: bool = False, wait: bool = True, serve_http: bool = False,
                   url: str | None = None, **overrides: Any) -> Worker:
        worker = Worker(fast_options(server.url if url is None else url, **overrides),
                        dev_mode=dev_mode, serve_http=serve_http)
        task = asyncio.create_task(worker.run())
        worker.run_task = task  # type: ignore[attr-defined]
        running.append((worker, task))
        if wait:
            await asyncio.wait_for(worker.wait_registered(), 10)
        return worker

    yield make
    for worker, task in running:
        await worker.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
