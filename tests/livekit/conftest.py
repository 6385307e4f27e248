"""Fixtures for the tests against a real LiveKit server (all marked ``livekit``).

``livekit_server`` is the server the test command started (``scripts/test.sh``), or one started
here. Workers run in this process with real job processes (``make_worker``); the server's
HTTP API is ``lkapi``. Every test gets its own ``out_dir`` where its jobs report.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api
from lk_agents import AgentConfig, entrypoint, prewarm
from lk_server import LiveKitServer, NoGo, in_ci, server_from_env, start_server

from flowagents.worker import Worker, WorkerOptions

MakeWorker = Callable[..., Awaitable[Worker]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.livekit)
            # the dev key's secret ("secret") is short, as LiveKit's dev mode has it
            item.add_marker(pytest.mark.filterwarnings("ignore:The HMAC key is"))


@pytest.fixture(scope="session")
def livekit_server() -> Iterator[LiveKitServer]:
    server = server_from_env()
    if server is not None:
        yield server
        return
    try:
        server = start_server()
    except NoGo as e:
        if in_ci():
            pytest.fail(f"no LiveKit server in CI: {e}")
        pytest.skip(f"no LiveKit server: {e}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def lkapi(livekit_server: LiveKitServer) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(livekit_server.url, livekit_server.api_key,
                            livekit_server.api_secret)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def out_dir(tmp_path: Path) -> str:
    return str(tmp_path)


@pytest.fixture
def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_worker(livekit_server: LiveKitServer, out_dir: str) -> AsyncIterator[MakeWorker]:
    """Start workers on the server (fast timers); all are closed at the end of the test."""
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def make(*, config: AgentConfig | None = None, serve_http: bool = False,
                   **overrides: Any) -> Worker:
        cfg = config or AgentConfig(out_dir=out_dir)
        opts: dict[str, Any] = dict(
            entrypoint_fnc=functools.partial(entrypoint, cfg), prewarm_fnc=prewarm,
            ws_url=livekit_server.url, api_key=livekit_server.api_key,
            api_secret=livekit_server.api_secret, num_idle_processes=1, load_fnc=lambda: 0.0,
            update_status_interval=0.5, retry_base_delay=0.05, retry_max_delay=0.2,
            shutdown_process_timeout=5.0, port=0, host="127.0.0.1")
        opts.update(overrides)
        worker = Worker(WorkerOptions(**opts), serve_http=serve_http)
        task = asyncio.create_task(worker.run())
        running.append((worker, task))
        await asyncio.wait_for(worker.wait_registered(), 15)
        return worker

    yield make
    for worker, task in running:
        await worker.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
