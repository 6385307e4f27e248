"""The main function of a job process: pre-warm, then run one job and report over IPC.

This module is what the forkserver preloads, so it imports only what every job needs (pydantic,
the protobuf job, our context); the RTC SDK is imported when a job connects. The process answers
pings from its own loop, so a job that blocks its loop shows up as a missed pong in the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from livekit.protocol import agent

from flowagents.ipc.channel import Channel, ChannelClosed, ProtocolError
from flowagents.ipc.inspect_report import SessionReporter, enable_inspection
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
    Message,
    PingRequest,
    PongResponse,
    ShutdownRequest,
    StartJobRequest,
)
from flowagents.job.context import JobContext
from flowagents.job.log import install_log_context
from flowagents.job.process import JobProcess
from flowagents.job.reporting import IPCLogHandler

__all__ = ["ProcStartArgs", "proc_main"]

logger = logging.getLogger("flowagents.job")

PrewarmFnc = Callable[[JobProcess], Any]
EntrypointFnc = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class ProcStartArgs:
    """What a job process is started with (pickled by multiprocessing: functions by reference)."""

    sock: socket.socket
    entrypoint_fnc: EntrypointFnc
    prewarm_fnc: PrewarmFnc | None
    shutdown_timeout: float = 10.0


def proc_main(args: ProcStartArgs) -> None:
    """Process entry point (target of ``multiprocessing.Process``)."""
    try:
        asyncio.run(_JobProcMain(args).run())
    except KeyboardInterrupt:
        pass


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


class _InferenceClient:
    """Job-side inference executor: requests go to the worker over the job's channel."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._pending: dict[str, asyncio.Future[InferenceResponse]] = {}

    async def do_inference(self, method: str, data: bytes) -> bytes | None:
        request_id = uuid.uuid4().hex
        fut: asyncio.Future[InferenceResponse] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            await self._channel.send(
                InferenceRequest(request_id=request_id, method=method, data=data)
            )
            resp = await fut
        finally:
            self._pending.pop(request_id, None)
        if resp.error is not None:
            raise RuntimeError(f"inference failed: {resp.error}")
        return resp.data

    def resolve(self, resp: InferenceResponse) -> None:
        fut = self._pending.get(resp.request_id)
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def fail_all(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ChannelClosed("worker went away"))


class _JobProcMain:
    def __init__(self, args: ProcStartArgs) -> None:
        self._args = args
        self._proc = JobProcess()
        self._ctx: JobContext | None = None
        self._job_task: asyncio.Task[None] | None = None
        self._start = asyncio.Event()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._reporter = SessionReporter(self._send_soon, self._job_names)

    def _job_names(self) -> tuple[str, str]:
        ctx = self._ctx
        return ("", "") if ctx is None else (ctx.job.id, ctx.job.room.name)

    def _send_soon(self, msg: Message) -> None:
        """Queue ``msg`` for the worker from any thread, without blocking."""
        try:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, msg)
        except RuntimeError:  # the loop is closed: the process is ending
            pass

    async def _send_outbox(self) -> None:
        while True:
            msg = await self._outbox.get()
            await self._channel.send(msg)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        channel = await Channel.open(self._args.sock)
        self._channel = channel
        self._inference = _InferenceClient(channel)
        install_log_context(lambda: self._ctx.log_context_fields if self._ctx else None)
        sender = asyncio.create_task(self._send_outbox(), name="job-ipc-sender")
        try:
            first = await channel.recv()
            if not isinstance(first, InitializeRequest):
                return
            _setup_logging(first.log_level, self._send_soon)
            if first.inspect:
                enable_inspection()
            # through the outbox, behind prewarm's log records, so the worker relays them first
            self._send_soon(InitializeResponse(error=await self._prewarm()))
            reader = asyncio.create_task(self._read_loop(), name="job-ipc-reader")
            try:
                await self._start.wait()
                if self._job_task is not None:
                    await self._job_task
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                await self._reporter.aclose()
        except ChannelClosed:
            pass
        finally:
            await asyncio.sleep(0)  # let records logged at the very end reach the outbox
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            _teardown_logging()
            with contextlib.suppress(ChannelClosed):
                while not self._outbox.empty():
                    await channel.send(self._outbox.get_nowait())
            await channel.aclose()

    async def _prewarm(self) -> str | None:
        fnc = self._args.prewarm_fnc
        if fnc is None:
            return None
        try:
            result = fnc(self._proc)
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            logger.exception("prewarm_fnc failed")
            return _error_text(e)
        return None

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    msg = await self._channel.recv()
                except ProtocolError:
                    logger.warning("ignoring invalid IPC message")
                    continue
                await self._handle(msg)
        except ChannelClosed:
            # the worker is gone: end the job rather than run orphaned
            self._inference.fail_all()
            if self._ctx is not None:
                self._ctx.shutdown("worker went away")
            self._start.set()

    async def _handle(self, msg: Message) -> None:
        if isinstance(msg, PingRequest):
            await self._channel.send(PongResponse(last_timestamp=msg.timestamp,
                                                  timestamp=time.time()))
        elif isinstance(msg, StartJobRequest):
            if self._job_task is None:
                self._job_task = asyncio.create_task(self._run_job(msg), name="job")
                self._start.set()
        elif isinstance(msg, ShutdownRequest):
            if self._ctx is not None:
                self._ctx.shutdown(msg.reason)
            else:
                self._start.set()
        elif isinstance(msg, InferenceResponse):
            self._inference.resolve(msg)
        elif isinstance(msg, InspectWatch):
            self._reporter.watch(msg.interval)

    async def _call_entrypoint(self, ctx: JobContext) -> None:
        await self._args.entrypoint_fnc(ctx)

    async def _run_job(self, req: StartJobRequest) -> None:
        job = agent.Job()
        job.ParseFromString(req.job)
        ctx = JobContext(job=job, proc=self._proc, url=req.url, token=req.token,
                         accept=req.accept, worker_id=req.worker_id,
                         inference_executor=self._inference)
        self._ctx = ctx
        ctx._metrics_sink = lambda values: self._send_soon(JobMetrics(values=values))
        ctx._bind()
        error: str | None = None
        await self._channel.send(JobStarted(started_at=time.time()))
        entry: asyncio.Task[None] = asyncio.create_task(self._call_entrypoint(ctx),
                                                        name="job-entrypoint")
        shutdown = asyncio.create_task(ctx.wait_for_shutdown(), name="job-shutdown-wait")
        try:
            await asyncio.wait({entry, shutdown}, return_when=asyncio.FIRST_COMPLETED)
            if entry.done() and not entry.cancelled() and entry.exception() is not None:
                exc = entry.exception()
                assert exc is not None
                logger.error("job entrypoint failed", exc_info=exc)
                error = _error_text(exc)
                ctx.shutdown("entrypoint failed")
            elif entry.done() and ctx.is_connected:
                await shutdown  # connected jobs live until shutdown or the room closes
            else:
                ctx.shutdown(ctx.shutdown_reason or "")
            await ctx._run_shutdown_callbacks(self._args.shutdown_timeout)
        finally:
            for t in (entry, shutdown):
                t.cancel()
            await asyncio.gather(entry, shutdown, return_exceptions=True)
            await ctx._disconnect()
        try:
            await self._channel.send(JobDone(error=error))
        except ChannelClosed:
            pass


_handler: IPCLogHandler | None = None


def _setup_logging(level: int, send: Callable[[LogRecordMessage], None]) -> None:
    """Every record of the job goes to the worker (which formats and ships it)."""
    global _handler
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    _handler = IPCLogHandler(send)
    root.addHandler(_handler)
    root.setLevel(level)


def _teardown_logging() -> None:
    """Back to stderr for whatever is logged after the channel is gone."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler = None
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s %(name)s [pid {os.getpid()}] %(message)s"))
        root.addHandler(handler)
