"""A pool of pre-warmed job processes: ``num_idle_processes`` are kept started and initialised.

A job takes a ready process, so assignment to entrypoint costs one IPC message. A process that does
not become ready within ``initialize_timeout`` (or whose prewarm raises) is killed and replaced
after an exponential back-off (tenacity, ``restart_base_delay`` to ``restart_max_delay``), so a
broken prewarm costs a few restarts a minute, not hundreds; each failure is logged with its error.
After two failures in a row :attr:`ProcPool.can_start` turns False (the worker then reports 503
and refuses jobs) and a single process keeps probing, however many are meant to be idle, until
one gets ready again. A job waiting for a process gives up after two
initialisation windows instead of hanging. With ``num_idle_processes=0`` (dev mode) a process is
started on demand for each job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from multiprocessing.context import BaseContext

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from flowagents.ipc.job_main import EntrypointFnc, PrewarmFnc
from flowagents.ipc.job_proc import (
    InferenceHandler,
    InspectHandler,
    JobProcessHandle,
    MetricsHandler,
    ProcessInitError,
    ProcOptions,
    default_mp_context,
)

__all__ = ["NoProcessAvailable", "ProcPool"]

logger = logging.getLogger("flowagents.ipc")

FAILURES_BEFORE_UNHEALTHY = 2


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
        inspect_handler: InspectHandler | None = None,
    ) -> None:
        self._metrics_handler = metrics_handler
        self._inspect_handler = inspect_handler
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
        self.consecutive_failures = 0

    @property
    def idle_count(self) -> int:
        return self._ready.qsize()

    @property
    def warming_count(self) -> int:
        return len(self._warming)

    @property
    def can_start(self) -> bool:
        """False after repeated initialisation failures, until a process gets ready again."""
        return self.consecutive_failures < FAILURES_BEFORE_UNHEALTHY

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
        if not self.can_start:
            want = min(want, 1)  # one process probes, with back-off, until one gets ready
        while self._ready.qsize() + len(self._warming) < want:
            task = asyncio.create_task(self._warm_one(), name="proc-pool-warm")
            self._warming.add(task)
            task.add_done_callback(self._on_warm_done)

    def _on_warm_done(self, task: asyncio.Task[None]) -> None:
        self._warming.discard(task)
        if not task.cancelled():
            self._refill()

    async def _warm_one(self) -> None:
        """Start processes until one is ready, backing off after each failure."""
        o = self._opts
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ProcessInitError),
            wait=wait_exponential_jitter(multiplier=o.restart_base_delay,
                                         max=o.restart_max_delay, jitter=o.restart_base_delay / 2),
            stop=self._another_probes, before_sleep=self._log_failure, reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    proc = await self._start_one()
        except ProcessInitError as e:
            logger.warning("job process failed to initialise, another one is retrying",
                           extra={"error": str(e)})
            return
        self.consecutive_failures = 0
        proc.done.add_done_callback(lambda _f: self._forget(proc))
        self._ready.put_nowait(proc)

    async def _start_one(self) -> JobProcessHandle:
        proc = JobProcessHandle(mp_ctx=self._mp_ctx, entrypoint_fnc=self._entrypoint_fnc,
                                prewarm_fnc=self._prewarm_fnc, opts=self._opts,
                                inference_handler=self._inference_handler,
                                metrics_handler=self._metrics_handler,
                                inspect_handler=self._inspect_handler)
        self.processes.append(proc)
        try:
            await proc.start()
            await proc.initialize()
        except ProcessInitError:
            self.init_failures += 1
            self.consecutive_failures += 1
            self._forget(proc)
            raise
        except BaseException:
            await proc.aclose()
            self._forget(proc)
            raise
        return proc

    def _another_probes(self, _state: RetryCallState) -> bool:
        """Stop this task when no process can start and another task is already retrying."""
        me = asyncio.current_task()
        if self.can_start or not any(t is not me for t in self._warming):
            return False
        self._warming.discard(me)  # at once, so the next task to fail stays
        return True

    @staticmethod
    def _log_failure(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning("job process failed to initialise, retrying",
                       extra={"error": str(error), "attempt": state.attempt_number,
                              "retry_in": round(delay, 2)})

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
