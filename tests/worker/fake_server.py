"""A test LiveKit server that speaks the real agent protocol at ``/agent``.

aiohttp WebSocket on 127.0.0.1 (random port), binary frames of real ``livekit.protocol.agent``
messages, the worker's JWT verified with the same key and secret (livekit-api's TokenVerifier, agent
grant required). Tests drive it: offer jobs, assign, terminate, drop the connection, send garbage,
and wait for what the worker sends.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web
from livekit.api import TokenVerifier
from livekit.protocol import agent, models

API_KEY = "APIfaketestkey"
API_SECRET = "fake-test-secret-that-is-long-enough-0123456789"


@dataclass
class Received:
    """One message from the worker, with the connection it came on."""

    conn: int
    msg: agent.WorkerMessage

    @property
    def kind(self) -> str | None:
        return self.msg.WhichOneof("message")


class FakeLiveKitServer:
    """The agent endpoint of a LiveKit server, scripted by tests."""

    def __init__(self, api_key: str = API_KEY, api_secret: str = API_SECRET) -> None:
        self._verifier = TokenVerifier(api_key, api_secret)
        self._runner: web.AppRunner | None = None
        self._ws: web.WebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._cond = asyncio.Condition()
        self.received: list[Received] = []
        self.connections = 0
        self.auth_failures = 0
        self.refuse = False  # answer 503 to new connections while set
        self.auth_status = 401  # what a refused token gets (a real server: 401, or 403)
        self.flap = False  # close each connection right after answering its registration
        self.registered_at: list[float] = []  # loop time of each registration answered
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/agent", self._agent)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def aclose(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            return web.Response(status=503)
        auth = request.headers.get("Authorization", "")
        try:
            claims = self._verifier.verify(auth.removeprefix("Bearer "))
            if not claims.video or not claims.video.agent:
                raise ValueError("no agent grant")
        except Exception:
            self.auth_failures += 1
            return web.Response(status=self.auth_status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        conn = self.connections
        self._ws = ws
        registered = False
        async for frame in ws:
            if frame.type != WSMsgType.BINARY:
                continue
            msg = agent.WorkerMessage.FromString(frame.data)
            if not registered:
                assert msg.WhichOneof("message") == "register", "first message must be register"
                registered = True
                await ws.send_bytes(agent.ServerMessage(register=agent.RegisterWorkerResponse(
                    worker_id=f"AW_{conn}",
                    server_info=models.ServerInfo(version="fake"))).SerializeToString())
                self.registered_at.append(asyncio.get_running_loop().time())
                if self.flap:
                    await ws.close()
            if msg.WhichOneof("message") == "ping":
                await ws.send_bytes(agent.ServerMessage(pong=agent.WorkerPong(
                    last_timestamp=msg.ping.timestamp,
                    timestamp=msg.ping.timestamp)).SerializeToString())
            async with self._cond:
                self.received.append(Received(conn, msg))
                self._cond.notify_all()
        if self._ws is ws:
            self._ws = None
        return ws

    # -- observing ----------------------------------------------------------------------------

    def of_kind(self, kind: str) -> list[agent.WorkerMessage]:
        return [r.msg for r in self.received if r.kind == kind]

    async def wait_for(self, kind: str, pred: Callable[[agent.WorkerMessage], bool] | None = None,
                       within: float = 5.0) -> agent.WorkerMessage:
        """The first message of ``kind`` (matching ``pred``) received so far or later."""
        def find() -> agent.WorkerMessage | None:
            for r in self.received:
                if r.kind == kind and (pred is None or pred(r.msg)):
                    return r.msg
            return None

        async with asyncio.timeout(within), self._cond:
            while (found := find()) is None:
                await self._cond.wait()
            return found

    async def job_status(self, job_id: str, status: int, within: float = 5.0) -> str:
        """Wait for an update_job of ``status`` for ``job_id``; return its error text."""
        msg = await self.wait_for("update_job", lambda m: m.update_job.job_id == job_id
                                  and m.update_job.status == status, within)
        return msg.update_job.error

    def job_statuses(self, job_id: str) -> list[int]:
        return [m.update_job.status for m in self.of_kind("update_job")
                if m.update_job.job_id == job_id]

    # -- driving ------------------------------------------------------------------------------

    async def wait_connected(self, count: int = 1, within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._cond:
            while len(self.of_kind("register")) < count or self._ws is None:
                await self._cond.wait()

    async def send(self, msg: agent.ServerMessage) -> None:
        await self.send_raw(msg.SerializeToString())

    async def send_raw(self, data: bytes) -> None:
        assert self._ws is not None, "no worker connected"
        await self._ws.send_bytes(data)

    async def send_text(self, text: str) -> None:
        assert self._ws is not None, "no worker connected"
        await self._ws.send_str(text)

    @staticmethod
    def make_job(job_id: str, room: str = "room", metadata: str = "") -> agent.Job:
        return agent.Job(id=job_id, type=agent.JT_ROOM, room=models.Room(name=room, sid="RM_1"),
                         metadata=metadata)

    async def offer(self, job: agent.Job, within: float = 5.0, *,
                    resuming: bool = False) -> agent.AvailabilityResponse:
        """Send an availability request; return the worker's answer."""
        await self.send(agent.ServerMessage(availability=agent.AvailabilityRequest(
            job=job, resuming=resuming)))
        msg = await self.wait_for("availability", lambda m: m.availability.job_id == job.id,
                                  within)
        return msg.availability

    async def assign(self, job: agent.Job, token: str = "room-token") -> None:
        await self.send(agent.ServerMessage(assignment=agent.JobAssignment(
            job=job, url="ws://127.0.0.1:1", token=token)))

    async def dispatch(self, job: agent.Job) -> agent.AvailabilityResponse:
        """Offer and, when accepted, assign (what the real server does)."""
        answer = await self.offer(job)
        if answer.available:
            await self.assign(job)
        return answer

    async def terminate(self, job_id: str) -> None:
        await self.send(agent.ServerMessage(termination=agent.JobTermination(job_id=job_id)))

    async def drop(self) -> None:
        """Close the worker's connection abruptly."""
        ws = self._ws
        self._ws = None
        if ws is not None:
            await ws.close()


async def until(pred: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``pred()`` holds (polling; for worker state that has no event)."""
    async with asyncio.timeout(within):
        while not pred():  # noqa: ASYNC110 - worker state with no event to wait on
            await asyncio.sleep(0.01)
