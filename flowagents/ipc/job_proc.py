"""The worker's handle on one job process: start, pre-warm, ping, watch memory, run one job, reap.

Everything that can go wrong in a job process (a hang in prewarm, a crash, ``kill -9``, a memory
blow-up, a loop that stops answering pings) ends here as a :class:`JobResult` with an error, and
never as an exception in the worker. Each handle owns its supervising tasks and cancels them on
close. The process's log records are relayed into the worker's logging from the first one,
prewarm's included. Memory is polled every ``memory_check_interval`` (0.1 s by default: a job
growing 125 MB/s is seen at most ~13 MB over its limit, 5 % of 250 MB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

import psutil

from flowagents.ipc.channel import Channel, ChannelClosed, ProtocolError
from flowagents.ipc.job_main import EntrypointFnc, PrewarmFnc, ProcStartArgs, proc_main
from flowagents.ipc.messages import (
    InferenceRequest,
    InferenceResponse,
    InitializeRequest,
    InitializeResponse,
    InspectWatch,
    JobDone,
    JobMetrics,
    JobStarted,
    LogRecordMessage,
    PingRequest,
    PongResponse,
    SessionsReport,
    ShutdownRequest,
    StartJobRequest,
)
from flowagents.ipc.spawn import start_process
from flowagents.job.reporting import record_from_message

__all__ = ["JobProcessHandle", "JobResult", "ProcOptions", "ProcessInitError"]

logger = logging.getLogger("flowagents.ipc")

InferenceHandler = Callable[[InferenceRequest], Awaitable[InferenceResponse]]
MetricsHandler = Callable[[str | None, dict[str, float]], None]
InspectHandler = Callable[["JobProcessHandle", SessionsReport], None]


class ProcessInitError(RuntimeError):
    """A process did not become ready (prewarm hung, raised, or the process died)."""


@dataclass(frozen=True)
class ProcOptions:
    """Timings and limits for job processes (the worker fills these from WorkerOptions)."""

    initialize_timeout: float = 10.0
    shutdown_timeout: float = 60.0
    ping_interval: float = 2.5
    ping_timeout: float = 90.0
    memory_warn_mb: float = 1000.0
    memory_limit_mb: float = 0.0
    memory_check_interval: float = 0.1
    restart_base_delay: float = 0.5
    restart_max_delay: float = 30.0
    log_level: int = logging.INFO
    inspect: bool = False  # sessions count per-node values (the worker serves the live view)


@dataclass(frozen=True)
class JobResult:
    """How a job ended: ``error`` is None on success."""

    error: str | None
    exitcode: int | None


class JobProcessHandle:
    """One job process, from fork to reap. Events: ``started`` (future), ``done`` (future)."""

    def __init__(
        self,
        *,
        mp_ctx: BaseContext,
        entrypoint_fnc: EntrypointFnc,
        prewarm_fnc: PrewarmFnc | None,
        opts: ProcOptions,
        inference_handler: InferenceHandler | None = None,
        metrics_handler: MetricsHandler | None = None,
        inspect_handler: InspectHandler | None = None,
    ) -> None:
        self._mp_ctx = mp_ctx
        self._metrics_handler = metrics_handler
        self._inspect_handler = inspect_handler
        self._entrypoint_fnc = entrypoint_fnc
        self._prewarm_fnc = prewarm_fnc
        self._opts = opts
        self._inference_handler = inference_handler
        self._proc: Any = None  # multiprocessing.Process from a context
        self._channel: Channel | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[JobResult] | None = None
        loop = asyncio.get_running_loop()
        self.started: asyncio.Future[float] = loop.create_future()
        self.done: asyncio.Future[JobResult] = loop.create_future()
        self._job_done: JobDone | None = None
        self._kill_reason: str | None = None
        self._last_pong = time.monotonic()
        self._exited: asyncio.Future[None] | None = None
        self.job_id: str | None = None
        self.memory_mb = 0.0
        self.ping_rtt: float | None = None  # seconds, from the last pong

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running_job(self) -> bool:
        return self.job_id is not None

    async def start(self) -> None:
        """Fork the process (off the loop: forkserver start blocks briefly)."""
        parent_sock, child_sock = socket.socketpair()
        args = ProcStartArgs(sock=child_sock, entrypoint_fnc=self._entrypoint_fnc,
                             prewarm_fnc=self._prewarm_fnc,
                             shutdown_timeout=self._opts.shutdown_timeout)
        self._proc = self._mp_ctx.Process(target=proc_main, args=(args,), daemon=True,  # type: ignore[attr-defined]
                                          name="flowagents-job")
        try:
            await start_process(self._proc, child_sock)
        except asyncio.CancelledError:
            parent_sock.close()
            raise
        except Exception as e:  # e.g. an entrypoint that cannot be pickled by reference
            parent_sock.close()
            raise ProcessInitError(f"process did not start: {type(e).__name__}: {e}") from None
        self._channel = await Channel.open(parent_sock)

    async def initialize(self) -> None:
        """Run prewarm in the process; kill it and raise when it is not ready in time.

        Log records the process sends meanwhile (prewarm's) are relayed as they come.
        """
        assert self._channel is not None
        try:
            async with asyncio.timeout(self._opts.initialize_timeout):
                await self._channel.send(InitializeRequest(log_level=self._opts.log_level,
                                                           inspect=self._opts.inspect))
                while True:
                    resp = await self._channel.recv()
                    if isinstance(resp, LogRecordMessage):
                        _relay_log(resp, self.pid)
                    elif isinstance(resp, InitializeResponse):
                        break
        except (TimeoutError, ChannelClosed, ProtocolError) as e:
            await self.kill()
            what = "timed out" if isinstance(e, TimeoutError) else type(e).__name__
            raise ProcessInitError(f"process not ready: {what}") from None
        if resp.error is not None:
            await self.kill()
            raise ProcessInitError(f"prewarm_fnc failed: {resp.error}")
        self._supervisor = asyncio.create_task(self._supervise(), name="job-proc-supervisor")

    async def launch_job(self, req: StartJobRequest, job_id: str) -> None:
        """Hand the job to this (ready) process."""
        assert self._channel is not None
        self.job_id = job_id
        await self._channel.send(req)

    async def watch(self, interval: float) -> None:
        """Ask for a report of the sessions every ``interval`` seconds (0: stop reporting)."""
        if self._channel is not None and not self.done.done():
            with contextlib.suppress(ChannelClosed):
                await self._channel.send(InspectWatch(interval=interval))

    async def shutdown(self, reason: str = "") -> None:
        """Ask the job to end; kill the process if it has not exited in ``shutdown_timeout``."""
        if self._channel is not None and not self.done.done():
            with contextlib.suppress(ChannelClosed):
                await self._channel.send(ShutdownRequest(reason=reason))
        try:
            await asyncio.wait_for(asyncio.shield(self.done), self._opts.shutdown_timeout)
        except TimeoutError:
            await self.kill("did not shut down in time")

    async def kill(self, reason: str | None = None) -> None:
        """SIGKILL the process (idempotent); ``reason`` becomes the job's error."""
        if reason is not None and self._kill_reason is None:
            self._kill_reason = reason
        if self._proc is not None and self._proc.is_alive():
            with contextlib.suppress(ProcessLookupError, OSError):
                self._proc.kill()
        if self._supervisor is None:
            await self._reap()
            if self._channel is not None:
                await self._channel.aclose()

    async def aclose(self) -> None:
        """Cancel supervision and make sure the process is gone."""
        await self.kill()
        if self._supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._supervisor), 5.0)
            self._supervisor.cancel()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _reap(self) -> int | None:
        """Wait for the process to exit, on the loop (its sentinel fd becomes readable)."""
        proc = self._proc
        if proc is None or proc.pid is None:  # never started
            return None
        if self._exited is None:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._exited = fut

            def on_exit() -> None:
                loop.remove_reader(proc.sentinel)
                if not fut.done():
                    fut.set_result(None)

            if proc.exitcode is None:
                loop.add_reader(proc.sentinel, on_exit)
            else:
                fut.set_result(None)
        try:
            await asyncio.shield(self._exited)
        except asyncio.CancelledError:
            if self._exited.done():
                raise
            asyncio.get_running_loop().remove_reader(proc.sentinel)
            self._exited = None
            raise
        proc.join(0)
        code: int | None = proc.exitcode
        return code

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self) -> JobResult:
        assert self._channel is not None
        self._spawn(self._ping_loop(), "job-proc-ping")
        self._spawn(self._memory_loop(), "job-proc-memory")
        try:
            await self._read_loop()
        finally:
            exitcode = await self._reap()
            for t in list(self._tasks):
                t.cancel()
            await self._channel.aclose()
            if self._kill_reason is not None:
                error: str | None = self._kill_reason
            elif self._job_done is not None:
                error = self._job_done.error
            else:
                error = f"job process exited unexpectedly (exit code {exitcode})"
            result = JobResult(error=error, exitcode=exitcode)
            if not self.done.done():
                self.done.set_result(result)
            if not self.started.done():
                self.started.cancel()
        return result

    async def _read_loop(self) -> None:
        assert self._channel is not None
        while True:
            try:
                msg = await self._channel.recv()
            except ChannelClosed:
                return
            except ProtocolError:
                logger.warning("ignoring invalid IPC message from job process",
                               extra={"pid": self.pid})
                continue
            if isinstance(msg, PongResponse):
                self._last_pong = time.monotonic()
                self.ping_rtt = max(0.0, time.time() - msg.last_timestamp)
            elif isinstance(msg, LogRecordMessage):
                _relay_log(msg, self.pid)
            elif isinstance(msg, JobMetrics):
                if self._metrics_handler is not None:
                    self._metrics_handler(self.job_id, msg.values)
            elif isinstance(msg, SessionsReport):
                if self._inspect_handler is not None:
                    self._inspect_handler(self, msg)
            elif isinstance(msg, JobStarted):
                if not self.started.done():
                    self.started.set_result(msg.started_at)
            elif isinstance(msg, JobDone):
                self._job_done = msg
            elif isinstance(msg, InferenceRequest):
                self._spawn(self._answer_inference(msg), "job-proc-inference")

    async def _answer_inference(self, req: InferenceRequest) -> None:
        if self._inference_handler is None:
            resp = InferenceResponse(request_id=req.request_id, error="no inference process")
        else:
            resp = await self._inference_handler(req)
        if self._channel is not None:
            with contextlib.suppress(ChannelClosed):
                await self._channel.send(resp)

    async def _ping_loop(self) -> None:
        assert self._channel is not None
        self._last_pong = time.monotonic()
        while True:
            await asyncio.sleep(self._opts.ping_interval)
            if time.monotonic() - self._last_pong > self._opts.ping_timeout:
                logger.error("job process stopped answering pings, killing it",
                             extra={"pid": self.pid, "job_id": self.job_id})
                await self.kill("job process unresponsive")
                return
            try:
                await self._channel.send(PingRequest(timestamp=time.time()))
            except ChannelClosed:
                return

    async def _memory_loop(self) -> None:
        opts = self._opts
        if opts.memory_warn_mb <= 0 and opts.memory_limit_mb <= 0:
            return
        try:
            ps = psutil.Process(self.pid)
        except psutil.Error:
            return
        warned = False
        while True:
            try:
                self.memory_mb = ps.memory_info().rss / (1024 * 1024)
            except psutil.Error:
                return
            extra = {"pid": self.pid, "job_id": self.job_id, "memory_mb": round(self.memory_mb, 1)}
            if opts.memory_warn_mb > 0 and self.memory_mb > opts.memory_warn_mb and not warned:
                warned = True
                logger.warning("job process memory is high",
                               extra={**extra, "warn_mb": opts.memory_warn_mb})
            if opts.memory_limit_mb > 0 and self.memory_mb > opts.memory_limit_mb:
                logger.error("job process over its memory limit, killing it",
                             extra={**extra, "limit_mb": opts.memory_limit_mb})
                await self.kill("memory limit exceeded")
                return
            await asyncio.sleep(opts.memory_check_interval)


def _relay_log(msg: LogRecordMessage, pid: int | None) -> None:
    """Re-emit a job's record through the worker's logger of the same name."""
    target = logging.getLogger(msg.name)
    if target.isEnabledFor(msg.level):
        target.handle(record_from_message(msg, process=pid))


def default_mp_context() -> BaseContext:
    """forkserver on Linux (fast, clean children), spawn elsewhere."""
    import sys

    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["flowagents.ipc.job_main"])
        return ctx
    return mp.get_context("spawn")
