"""Inference runners: models that every job of a worker shares, run in one inference process.

A runner is a small class with a name (``INFERENCE_METHOD``), an ``initialize()`` that loads its
model once, and a synchronous ``run(data) -> bytes | None`` that does one inference. Register it
with :func:`register_runner` (usually as a class decorator in the module that defines it, imported
by the agent file); a worker with registered runners starts the inference process, and jobs call
``ctx.inference_executor.do_inference(INFERENCE_METHOD, payload)``. Payloads are bytes: the
runner and its callers agree on the encoding (JSON, numpy ``tobytes``, ...).

This module also holds the inference process's main function: it initialises every runner,
answers pings, and runs requests one at a time on one executor thread (models are rarely
thread-safe, and one inference process per worker is the unit of sharing).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from flowagents.ipc.channel import Channel, ChannelClosed, ProtocolError
from flowagents.ipc.messages import (
    InferenceRequest,
    InferenceResponse,
    InitializeRequest,
    InitializeResponse,
    PingRequest,
    PongResponse,
)

__all__ = ["InferenceRunner", "InferenceStartArgs", "inference_main", "register_runner",
           "registered_runners"]

logger = logging.getLogger("flowagents.inference")


class InferenceRunner(ABC):
    """One shared model. Subclasses set ``INFERENCE_METHOD`` and implement :meth:`run`."""

    INFERENCE_METHOD: ClassVar[str]

    def initialize(self) -> None:  # noqa: B027 (optional hook)
        """Load the model (runs once, in the inference process, before any request)."""

    @abstractmethod
    def run(self, data: bytes) -> bytes | None:
        """One inference (runs on the inference process's executor thread)."""


_RUNNERS: dict[str, type[InferenceRunner]] = {}


def register_runner(cls: type[InferenceRunner]) -> type[InferenceRunner]:
    """Register ``cls`` under its ``INFERENCE_METHOD`` (usable as a class decorator)."""
    name = getattr(cls, "INFERENCE_METHOD", "")
    if not name:
        raise ValueError("an inference runner needs a non-empty INFERENCE_METHOD")
    existing = _RUNNERS.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"inference method {name!r} is already registered")
    _RUNNERS[name] = cls
    return cls


def registered_runners() -> dict[str, type[InferenceRunner]]:
    """A copy of the registry (method name -> runner class)."""
    return dict(_RUNNERS)


@dataclass(frozen=True)
class InferenceStartArgs:
    """What the inference process is started with (runner classes pickle by reference)."""

    sock: socket.socket
    runners: dict[str, type[InferenceRunner]]


def inference_main(args: InferenceStartArgs) -> None:
    """Process entry point (target of ``multiprocessing.Process``)."""
    try:
        asyncio.run(_InferenceMain(args).run())
    except KeyboardInterrupt:
        pass


class _InferenceMain:
    def __init__(self, args: InferenceStartArgs) -> None:
        self._args = args
        self._runners: dict[str, InferenceRunner] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "flowagents-inference")
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        channel = await Channel.open(self._args.sock)
        try:
            first = await channel.recv()
            if not isinstance(first, InitializeRequest):
                return
            logging.getLogger().setLevel(first.log_level)
            error = await asyncio.get_running_loop().run_in_executor(self._executor,
                                                                     self._initialize)
            await channel.send(InitializeResponse(error=error))
            if error is not None:
                return
            while True:
                try:
                    msg = await channel.recv()
                except ProtocolError:
                    logger.warning("ignoring invalid IPC message")
                    continue
                if isinstance(msg, PingRequest):
                    await channel.send(PongResponse(last_timestamp=msg.timestamp,
                                                    timestamp=msg.timestamp))
                elif isinstance(msg, InferenceRequest):
                    task = asyncio.create_task(self._answer(channel, msg), name="inference")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except ChannelClosed:
            pass
        finally:
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await channel.aclose()
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _initialize(self) -> str | None:
        for name, cls in self._args.runners.items():
            try:
                runner = cls()
                runner.initialize()
            except Exception as e:
                logger.exception("inference runner failed to initialise",
                                 extra={"method": name})
                return f"{name}: {type(e).__name__}"
            self._runners[name] = runner
        return None

    async def _answer(self, channel: Channel, req: InferenceRequest) -> None:
        runner = self._runners.get(req.method)
        if runner is None:
            resp = InferenceResponse(request_id=req.request_id,
                                     error=f"unknown inference method {req.method!r}")
        else:
            try:
                data = await asyncio.get_running_loop().run_in_executor(
                    self._executor, runner.run, req.data)
                resp = InferenceResponse(request_id=req.request_id, data=data)
            except Exception as e:
                logger.exception("inference failed", extra={"method": req.method})
                resp = InferenceResponse(request_id=req.request_id,
                                         error=f"{type(e).__name__}: {e}"[:500])
        try:
            await channel.send(resp)
        except ChannelClosed:
            pass
