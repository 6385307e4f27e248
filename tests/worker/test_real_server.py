"""Against a real LiveKit server; runs only when the LIVEKIT_URL/API_KEY/API_SECRET env is set."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from wk_entrypoints import scripted

from flowagents.worker import Worker, WorkerOptions

_ENV = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")

pytestmark = [
    pytest.mark.livekit,
    pytest.mark.skipif(not all(os.environ.get(v) for v in _ENV),
                       reason="needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET"),
]


async def test_worker_registers_with_a_real_server() -> None:
    worker = Worker(WorkerOptions(entrypoint_fnc=scripted, num_idle_processes=1,
                                  agent_name="flowagents-test", max_retry=3),
                    serve_http=False)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.wait_registered(), 15)
        assert worker.worker_id
        assert worker.healthy
    finally:
        await worker.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
