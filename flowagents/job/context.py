"""JobContext: what an entrypoint receives, and ``get_job_context()`` to reach it from anywhere.

The context owns the job's lifetime inside its process: ``connect()`` joins the room with the
livekit RTC SDK using the assignment's token, ``shutdown(reason)`` ends the job, and shutdown
callbacks run before the room is left. ``log_context_fields`` are added to every log line of the
job.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from livekit.protocol import agent

from flowagents.callbacks import check_callback
from flowagents.ipc.messages import AcceptArguments
from flowagents.job.auto_subscribe import AutoSubscribe, subscribe_kind
from flowagents.job.process import JobProcess

if TYPE_CHECKING:
    from livekit import rtc

__all__ = ["InferenceExecutor", "JobContext", "ShutdownCallback", "get_job_context"]

logger = logging.getLogger("flowagents.job")

ShutdownCallback = Callable[[], Awaitable[None]] | Callable[[str], Awaitable[None]]

_current: contextvars.ContextVar[JobContext] = contextvars.ContextVar("flowagents_job_context")


class InferenceExecutor(Protocol):
    """Runs a named model shared by all jobs in the worker's inference process."""

    async def do_inference(self, method: str, data: bytes) -> bytes | None: ...


def get_job_context() -> JobContext:
    """The context of the job running in this task (raises outside a job)."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("no job context: not running inside a job") from None


class JobContext:
    """One job: its protobuf description, process, room and lifetime hooks."""

    def __init__(
        self,
        *,
        job: agent.Job,
        proc: JobProcess,
        url: str,
        token: str,
        accept: AcceptArguments | None = None,
        worker_id: str = "",
        inference_executor: InferenceExecutor | None = None,
    ) -> None:
        self._job = job
        self._proc = proc
        self._url = url
        self._token = token
        self._accept = accept or AcceptArguments()
        self._worker_id = worker_id
        self._inference = inference_executor
        self._room: rtc.Room | None = None
        self._connected = False
        self._shutdown_callbacks: list[ShutdownCallback] = []
        self._shutdown_reason: str | None = None
        self._shutdown_event = asyncio.Event()
        self._metrics_sink: Callable[[dict[str, float]], None] | None = None
        self.log_context_fields: dict[str, Any] = {
            "job_id": job.id,
            "room_name": job.room.name,
            "worker_id": worker_id,
            "pid": proc.pid,
        }

    def _bind(self) -> contextvars.Token[JobContext]:
        return _current.set(self)

    @property
    def job(self) -> agent.Job:
        return self._job

    @property
    def proc(self) -> JobProcess:
        return self._proc

    @property
    def worker_id(self) -> str:
        return self._worker_id

    @property
    def accept_arguments(self) -> AcceptArguments:
        return self._accept

    @property
    def inference_executor(self) -> InferenceExecutor:
        if self._inference is None:
            raise RuntimeError("this job has no inference executor")
        return self._inference

    @property
    def room(self) -> rtc.Room:
        """The job's room (created on first use; joined by :meth:`connect`)."""
        if self._room is None:
            from livekit import rtc

            self._room = rtc.Room()
        return self._room

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def shutdown_reason(self) -> str | None:
        return self._shutdown_reason

    async def connect(self, *, auto_subscribe: bool | AutoSubscribe = True) -> None:
        """Join the job's room with the assignment's URL and token; ``auto_subscribe``: every
        track (True, ``SUBSCRIBE_ALL``), none, or one kind (``AutoSubscribe.AUDIO_ONLY``)."""
        from livekit import rtc

        mode = (auto_subscribe if isinstance(auto_subscribe, AutoSubscribe)
                else AutoSubscribe.SUBSCRIBE_ALL if auto_subscribe
                else AutoSubscribe.SUBSCRIBE_NONE)
        room = self.room
        room.on("disconnected", self._on_room_disconnected)
        await room.connect(self._url, self._token, rtc.RoomOptions(
            auto_subscribe=mode is AutoSubscribe.SUBSCRIBE_ALL))
        if mode in (AutoSubscribe.AUDIO_ONLY, AutoSubscribe.VIDEO_ONLY):
            subscribe_kind(room, mode)
        self._connected = True
        logger.info("connected to room")  # the job's fields come from the log context

    def _on_room_disconnected(self, *_: Any) -> None:
        self.shutdown("room disconnected")

    def report_metrics(self, metrics: Any) -> None:
        """Send a voice metrics event (or its ``.metrics``) to the worker's ``/metrics``.

        Use as ``session.on("metrics_collected", ctx.report_metrics)``; ``room_session_io``
        does it for you when it runs inside a job.
        """
        from flowagents.job.reporting import metrics_values

        values = metrics_values(getattr(metrics, "metrics", metrics))
        if values and self._metrics_sink is not None:
            self._metrics_sink(values)

    def add_shutdown_callback(self, callback: ShutdownCallback) -> None:
        """Run ``callback`` (optionally taking the reason) when the job ends, before leaving.

        As in LiveKit, it is a coroutine function: ``async def cb()`` or ``async def
        cb(reason: str)``; anything else is refused here (``TypeError``), not at shutdown."""
        check_callback(callback, where="JobContext.add_shutdown_callback",
                       expects="async def callback() or async def callback(reason: str)",
                       is_async=True, args=(0, 1))
        self._shutdown_callbacks.append(callback)

    def shutdown(self, reason: str = "") -> None:
        """End the job: shutdown callbacks run, then the room is left and the process exits."""
        if self._shutdown_reason is None:
            self._shutdown_reason = reason
        self._shutdown_event.set()

    async def wait_for_shutdown(self) -> str:
        """Wait until :meth:`shutdown` is called; return its reason."""
        await self._shutdown_event.wait()
        return self._shutdown_reason or ""

    async def _run_shutdown_callbacks(self, per_callback: float) -> None:
        reason = self._shutdown_reason or ""
        for cb in self._shutdown_callbacks:
            try:
                n_params = len(inspect.signature(cb).parameters)
                coro = cb(reason) if n_params else cb()  # type: ignore[call-arg]
                await asyncio.wait_for(coro, per_callback)
            except Exception:
                logger.exception("shutdown callback failed")

    async def _disconnect(self) -> None:
        if self._room is not None and self._connected:
            self._connected = False
            try:
                await self._room.disconnect()
            except Exception:
                logger.exception("room disconnect failed")
