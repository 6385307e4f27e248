"""Fixtures for the worker tests: a fake LiveKit server and workers with fast timers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fake_server import API_KEY, API_SECRET, FakeLiveKitServer
from wk_entrypoints import prewarm, scripted

from flowagents.worker import Worker, WorkerOptions

MakeWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def server() -> AsyncIterator[FakeLiveKitServer]:
    srv = FakeLiveKitServer()
    await srv.start()
    yield srv
    await srv.aclose()


@pytest.fixture
async def make_worker(server: FakeLiveKitServer) -> AsyncIterator[MakeWorker]:
    """Start workers against ``server`` (fast timers); all are closed at the end of the test."""
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def make(*, dev_mode: bool = False, wait: bool = True, serve_http: bool = False,
                   **overrides: Any) -> Worker:
        opts: dict[str, Any] = dict(
            entrypoint_fnc=scripted, prewarm_fnc=prewarm, ws_url=server.url, api_key=API_KEY,
            api_secret=API_SECRET, num_idle_processes=1, load_fnc=lambda: 0.0,
            update_status_interval=0.2, retry_base_delay=0.05, retry_max_delay=0.2,
            initialize_process_timeout=5.0, shutdown_process_timeout=2.0,
            memory_check_interval=0.1, process_ping_interval=0.5, port=0, host="127.0.0.1")
        opts.update(overrides)
        worker = Worker(WorkerOptions(**opts), dev_mode=dev_mode, serve_http=serve_http)
        task = asyncio.create_task(worker.run())
        running.append((worker, task))
        if wait:
            await asyncio.wait_for(worker.wait_registered(), 10)
        return worker

    yield make
    for worker, task in running:
        await worker.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
