"""The worker's side of the shared inference process: start it, supervise it, relay requests.

One :class:`InferenceProcess` per worker. It starts the process with the registered runners,
waits for them to initialise, pings it, and restarts it (with back-off) when it dies, stops
answering pings, or fails to initialise. :meth:`InferenceProcess.do_inference` is the pool's
inference handler: each job's request arrives over the job's channel, goes to the inference
process with a fresh request id, and the response goes back to the job. Requests in flight when
the process dies are answered with an error (never left hanging); requests made while it restarts
wait for it (up to ``request_timeout``). Between a death and the restart it is :attr:`dead`, and
the worker reports itself unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from multiprocessing.context import BaseContext
from typing import Any

from flowagents.events import EventEmitter
from flowagents.ipc.channel import Channel, ChannelClosed, ProtocolError
from flowagents.ipc.inference import InferenceRunner, InferenceStartArgs, inference_main
from flowagents.ipc.messages import (
    InferenceRequest,
    InferenceResponse,
    InitializeRequest,
    InitializeResponse,
    PingRequest,
    PongResponse,
)
from flowagents.ipc.spawn import start_process

__all__ = ["InferenceProcess"]

logger = logging.getLogger("flowagents.inference")


class InferenceProcess(EventEmitter):
    """Supervises the inference process. Events (``on``): ``ready(pid)``, ``died(exitcode)``."""

    def __init__(self, *, runners: dict[str, type[InferenceRunner]], mp_ctx: BaseContext,
                 initialize_timeout: float = 60.0, ping_interval: float = 2.5,
                 ping_timeout: float = 30.0, request_timeout: float = 30.0,
                 restart_delay: float = 0.5, restart_max_delay: float = 10.0,
                 log_level: int = logging.INFO) -> None:
        self._runners = runners
        self._mp_ctx = mp_ctx
        self._initialize_timeout = initialize_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._request_timeout = request_timeout
        self._restart_delay = restart_delay
        self._restart_max_delay = restart_max_delay
        self._log_level = log_level
        self._proc: Any = None
        self._channel: Channel | None = None
        self._ready = asyncio.Event()
        self._pending: dict[str, asyncio.Future[InferenceResponse]] = {}
        self._task: asyncio.Task[None] | None = None
        EventEmitter.__init__(self)
        self._dead = False
        self.restarts = 0
        self.requests_total = 0
        self.errors_total = 0
        self.last_pong_rtt: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def dead(self) -> bool:
        """The process has exited and is waiting to be restarted."""
        return self._dead


    def start(self) -> None:
        """Start supervising (the process starts in the background)."""
        self._task = asyncio.create_task(self._supervise(), name="inference-supervisor")

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def do_inference(self, req: InferenceRequest) -> InferenceResponse:
        """Relay one job's request; always returns a response (an error one on failure)."""
        self.requests_total += 1
        request_id = uuid.uuid4().hex
        fut: asyncio.Future[InferenceResponse] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._request_timeout):
                await self._ready.wait()
                channel = self._channel
                assert channel is not None
                self._pending[request_id] = fut
                await channel.send(InferenceRequest(request_id=request_id, method=req.method,
                                                    data=req.data))
                resp = await fut
        except TimeoutError:
            resp = InferenceResponse(request_id=request_id, error="inference timed out")
        except ChannelClosed:
            resp = InferenceResponse(request_id=request_id, error="inference process died")
        finally:
            self._pending.pop(request_id, None)
        if resp.error is not None:
            self.errors_total += 1
        return InferenceResponse(request_id=req.request_id, data=resp.data, error=resp.error)

    async def aclose(self) -> None:
        """Stop supervising and kill the process."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._kill()
        await self._reap()

    # -- supervision -------------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self._restart_delay
        while True:
            started = time.monotonic()
            try:
                await self._run_once()
            finally:
                self._ready.clear()
                self._fail_pending("inference process died")
                self._kill()
                if self._channel is not None:
                    await self._channel.aclose()
                    self._channel = None
            exitcode = await self._reap()
            self._dead = True
            self._emit("died", exitcode)
            logger.error("inference process exited, restarting it",
                         extra={"exitcode": exitcode})
            if time.monotonic() - started > 10 * self._restart_max_delay:
                delay = self._restart_delay  # it ran for a while: restart promptly
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._restart_max_delay)
            self.restarts += 1
            self._dead = False

    async def _run_once(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        args = InferenceStartArgs(sock=child_sock, runners=self._runners)
        self._proc = self._mp_ctx.Process(  # type: ignore[attr-defined]
            target=inference_main, args=(args,), daemon=True, name="flowagents-inference")
        try:
            await start_process(self._proc, child_sock)
        except asyncio.CancelledError:
            parent_sock.close()
            raise
        except Exception as e:
            parent_sock.close()
            logger.error("inference process did not start", extra={"error": f"{e!r}"[:500]})
            return
        channel = self._channel = await Channel.open(parent_sock)
        try:
            async with asyncio.timeout(self._initialize_timeout):
                await channel.send(InitializeRequest(log_level=self._log_level))
                resp = await channel.recv()
        except (TimeoutError, ChannelClosed, ProtocolError):
            logger.error("inference process did not initialise")
            return
        if not isinstance(resp, InitializeResponse) or resp.error is not None:
            logger.error("inference runners failed to initialise")
            return
        logger.info("inference process ready", extra={"pid": self.pid,
                                                      "methods": sorted(self._runners)})
        self._ready.set()
        self._emit("ready", self.pid)
        pinger = asyncio.create_task(self._ping_loop(channel), name="inference-ping")
        try:
            await self._read_loop(channel)
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)

    async def _read_loop(self, channel: Channel) -> None:
        while True:
            try:
                msg = await channel.recv()
            except ChannelClosed:
                return
            except ProtocolError:
                logger.warning("ignoring invalid IPC message from the inference process")
                continue
            if isinstance(msg, InferenceResponse):
                fut = self._pending.get(msg.request_id)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif isinstance(msg, PongResponse):
                self._last_pong = time.monotonic()
                self.last_pong_rtt = max(0.0, time.time() - msg.last_timestamp)

    async def _ping_loop(self, channel: Channel) -> None:
        self._last_pong = time.monotonic()
        while True:
            await asyncio.sleep(self._ping_interval)
            if time.monotonic() - self._last_pong > self._ping_timeout:
                logger.error("inference process stopped answering pings, killing it",
                             extra={"pid": self.pid})
                self._kill()
                return
            try:
                await channel.send(PingRequest(timestamp=time.time()))
            except ChannelClosed:
                return

    def _fail_pending(self, error: str) -> None:
        for request_id, fut in list(self._pending.items()):
            if not fut.done():
                fut.set_result(InferenceResponse(request_id=request_id, error=error))

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.is_alive():
            with contextlib.suppress(ProcessLookupError, OSError):
                proc.kill()

    async def _reap(self) -> int | None:
        proc = self._proc
        if proc is None or proc.pid is None:  # never started
            return None
        loop = asyncio.get_running_loop()
        code: int | None = await loop.run_in_executor(None, _join, proc)
        return code


def _join(proc: Any) -> int | None:
    proc.join(5.0)
    code: int | None = proc.exitcode
    return code
