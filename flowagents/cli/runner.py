"""The runners behind the worker commands: run a worker, or one job in a named room.

``cli.run_app`` (an agent file's commands) and ``flowagents start module:options`` both end here
(see :mod:`flowagents.cli.worker_cmd`). SIGINT/SIGTERM drain the
worker: no new jobs, running jobs finish (up to ``drain_timeout``), then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from typing import Any

from livekit.api import AccessToken, VideoGrants
from livekit.protocol import agent, models

from flowagents.ipc.job_proc import ProcOptions
from flowagents.ipc.messages import AcceptArguments, StartJobRequest
from flowagents.ipc.proc_pool import ProcPool
from flowagents.worker.connection import agent_ws_url
from flowagents.worker.logs import LogFormat
from flowagents.worker.logs import setup_logging as _setup_logging
from flowagents.worker.options import WorkerOptions
from flowagents.worker.worker import Worker

__all__ = ["run_connect", "run_worker", "setup_logging"]

logger = logging.getLogger("flowagents.cli")


def setup_logging(level: str | int, fmt: LogFormat = "text") -> None:
    """stderr logging for the worker process: text with every record's fields, or JSON."""
    _setup_logging(level, fmt)


async def run_worker(opts: WorkerOptions, *, dev_mode: bool) -> None:
    """Run a worker until SIGINT/SIGTERM, which drain it (a second signal closes at once)."""
    worker = Worker(opts, dev_mode=dev_mode)
    loop = asyncio.get_running_loop()
    drains: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        if drains:
            logger.warning("second signal, closing now")
            drains.append(asyncio.create_task(worker.aclose(), name="worker-close"))
            return
        logger.info("draining the worker")
        drains.append(asyncio.create_task(worker.drain(), name="worker-drain"))

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        for t in drains:
            t.cancel()
        await asyncio.gather(*drains, return_exceptions=True)


async def run_connect(opts: WorkerOptions, *, room: str, identity: str = "") -> str | None:
    """Join ``room`` directly (no dispatch): run one job in a fresh process; return its error."""
    opts.check_settings()
    identity = identity or f"agent-{uuid.uuid4().hex[:8]}"
    token = (AccessToken(opts.api_key, opts.api_secret.get_secret_value())
             .with_identity(identity).with_kind("agent")
             .with_grants(VideoGrants(room_join=True, room=room, agent=True)).to_jwt())
    job = agent.Job(id=f"simulated-{uuid.uuid4().hex[:12]}", type=agent.JT_ROOM,
                    room=models.Room(name=room), agent_name=opts.agent_name)
    pool = ProcPool(entrypoint_fnc=opts.entrypoint_fnc, prewarm_fnc=opts.prewarm_fnc,
                    num_idle_processes=0,
                    opts=ProcOptions(initialize_timeout=opts.initialize_process_timeout,
                                     shutdown_timeout=opts.shutdown_process_timeout,
                                     memory_warn_mb=opts.job_memory_warn_mb,
                                     memory_limit_mb=opts.job_memory_limit_mb))
    url = agent_ws_url(opts.ws_url).removesuffix("/agent")
    started = time.monotonic()
    try:
        proc = await pool.launch_job()
        await proc.launch_job(StartJobRequest(job=job.SerializeToString(), url=url, token=token,
                                              accept=AcceptArguments(identity=identity)), job.id)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        stopper = asyncio.create_task(stop.wait(), name="connect-stop")
        try:
            waiters: list[asyncio.Future[Any]] = [stopper, proc.done]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not proc.done.done():
                await proc.shutdown("interrupted")
        finally:
            stopper.cancel()
            await asyncio.gather(stopper, return_exceptions=True)
        result = await proc.done
        logger.info("job ended", extra={"job_id": job.id, "error": result.error,
                                        "seconds": round(time.monotonic() - started, 1)})
        return result.error
    finally:
        await pool.aclose()
