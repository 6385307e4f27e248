"""JobRequest: an availability request from the server, handed to the worker's ``request_fnc``.

``request_fnc`` decides whether this worker takes the job: ``accept()`` (optionally choosing the
agent's identity, name, metadata and attributes in the room) or ``reject()``. Answering twice is an
error; not answering at all counts as a rejection. ``resuming`` is true when the server offers
again a job that ran on another worker that went away (the default ``request_fnc`` accepts it like
any other job).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from livekit.protocol import agent

from flowagents.ipc.messages import AcceptArguments

__all__ = ["JobRequest", "default_request_fnc"]

AnswerFn = Callable[[bool, AcceptArguments | None], Awaitable[None]]


class JobRequest:
    """The job offered by the server, with the means to answer."""

    def __init__(self, job: agent.Job, on_answer: AnswerFn, *, resuming: bool = False) -> None:
        self._job = job
        self._resuming = resuming
        self._on_answer = on_answer
        self._answered = False

    @property
    def job(self) -> agent.Job:
        return self._job

    @property
    def id(self) -> str:
        return self._job.id

    @property
    def room_name(self) -> str:
        return self._job.room.name

    @property
    def resuming(self) -> bool:
        """The server is resuming this job after the worker that ran it went away."""
        return self._resuming

    @property
    def agent_name(self) -> str:
        return self._job.agent_name

    @property
    def answered(self) -> bool:
        return self._answered

    async def accept(
        self,
        *,
        name: str = "",
        identity: str = "",
        metadata: str = "",
        attributes: dict[str, str] | None = None,
    ) -> None:
        """Take the job; the agent joins as ``identity`` (default ``agent-<job id>``)."""
        self._mark()
        args = AcceptArguments(
            name=name,
            identity=identity or f"agent-{self._job.id}",
            metadata=metadata,
            attributes=attributes or {},
        )
        await self._on_answer(True, args)

    async def reject(self) -> None:
        """Decline the job; the server offers it to another worker."""
        self._mark()
        await self._on_answer(False, None)

    def _mark(self) -> None:
        if self._answered:
            raise RuntimeError("job request already answered")
        self._answered = True


async def default_request_fnc(req: JobRequest) -> None:
    """Accept every job."""
    await req.accept()
