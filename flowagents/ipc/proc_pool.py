"""A pool of pre-warmed job processes: ``num_idle_processes`` are kept started and initialised.

A job takes a ready process, so assignment to entrypoint costs one IPC message. A process that does
not become ready within ``initialize_timeout`` is killed and replaced; a job waiting for a process
gives up after two initialisation windows instead of hanging. With ``num_idle_processes=0`` (dev
mode) a process is started on demand for each job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from multiprocessing.context import BaseContext

from flowagents.ipc.job_main import EntrypointFnc, PrewarmFnc
from flowagents.ipc.job_proc import (
    InferenceHandler,
    JobProcessHandle,
    MetricsHandler,
    ProcessInitError,
    ProcOptions,
    default_mp_context,
)

__all__ = ["NoProcessAvailable", "ProcPool"]

logger = logging.getLogger("flowagents.ipc")


class NoProcessAvailable(RuntimeError):
    """No process became ready for a job in time."""


class ProcPool:
    """Keeps processes warm and hands them to jobs."""

    def __init__(
        self,
        *,
        entrypoint_fnc: EntrypointFnc,
        prewarm_fnc: PrewarmFnc | None,
        num_idle_processes: int,
        opts: ProcOptions,
        mp_ctx: BaseContext | None = None,
        inference_handler: InferenceHandler | None = None,
        metrics_handler: MetricsHandler | None = None,
    ) -> None:
        self._metrics_handler = metrics_handler
        self._entrypoint_fnc = entrypoint_fnc
        self._prewarm_fnc = prewarm_fnc
        self._num_idle = num_idle_processes
        self._opts = opts
        self._mp_ctx = mp_ctx or default_mp_context()
        self._inference_handler = inference_handler
        self._ready: asyncio.Queue[JobProcessHandle] = asyncio.Queue()
        self._warming: set[asyncio.Task[None]] = set()
        self._waiters = 0
        self._closed = False
        self.processes: list[JobProcessHandle] = []
        self.init_failures = 0

    @property
    def idle_count(self) -> int:
        return self._ready.qsize()

    @property
    def warming_count(self) -> int:
        return len(self._warming)

    def start(self) -> None:
        """Begin warming ``num_idle_processes`` processes."""
        self._refill()

    async def launch_job(self) -> JobProcessHandle:
        """A ready process for one job (the caller sends it the job)."""
        self._waiters += 1
        try:
            self._refill()
            async with asyncio.timeout(self._opts.initialize_timeout * 2 + 1.0):
                while True:
                    proc = await self._ready.get()
                    if not proc.done.done():  # skip a process that died while idle
                        break
        except TimeoutError:
            raise NoProcessAvailable("no job process became ready in time") from None
        finally:
            self._waiters -= 1
        self._refill()
        return proc

    def _refill(self) -> None:
        if self._closed:
            return
        want = self._num_idle + self._waiters
        while self._ready.qsize() + len(self._warming) < want:
            task = asyncio.create_task(self._warm_one(), name="proc-pool-warm")
            self._warming.add(task)
            task.add_done_callback(self._on_warm_done)

    def _on_warm_done(self, task: asyncio.Task[None]) -> None:
        self._warming.discard(task)
        if not task.cancelled():
            self._refill()

    async def _warm_one(self) -> None:
        proc = JobProcessHandle(mp_ctx=self._mp_ctx, entrypoint_fnc=self._entrypoint_fnc,
                                prewarm_fnc=self._prewarm_fnc, opts=self._opts,
                                inference_handler=self._inference_handler,
                                metrics_handler=self._metrics_handler)
        self.processes.append(proc)
        try:
            await proc.start()
            await proc.initialize()
        except ProcessInitError:
            self.init_failures += 1
            logger.warning("job process failed to initialise, replacing it",
                           extra={"pid": proc.pid})
            self._forget(proc)
            return
        except BaseException:
            await proc.aclose()
            self._forget(proc)
            raise
        proc.done.add_done_callback(lambda _f: self._forget(proc))
        self._ready.put_nowait(proc)

    def _forget(self, proc: JobProcessHandle) -> None:
        with contextlib.suppress(ValueError):
            self.processes.remove(proc)

    async def aclose(self) -> None:
        """Stop warming and kill idle processes (running jobs are the worker's to end)."""
        self._closed = True
        for t in list(self._warming):
            t.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        while not self._ready.empty():
            await self._ready.get_nowait().aclose()
