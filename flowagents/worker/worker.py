"""The worker: registers with a LiveKit server, answers availability, runs jobs in the process pool.

Server messages arrive on one WebSocket; each is decoded defensively (garbage and unknown messages
are logged and dropped) and handled without blocking the read loop. Job status goes out as the job
runs and ends; worker status (load, available/full, job count) every ``update_status_interval``.
When the connection drops, the worker reconnects with back-off, re-registers and migrates its
running jobs, which keep running in their processes throughout. The back-off outlives a session:
one that ends within ``retry_max_delay`` of registering counts as a failed attempt, so a flapping
server is not hammered. Refused credentials (401/403) and running out of attempts are fatal: once
its running jobs are done, ``run()`` raises the :class:`ConnectError` so the process exits non-zero
and its supervisor restarts it. Every job the server assigned ends with a final status, whether
it ends by itself, by a drain timeout or by ``aclose()``.

Events (``on(name, fn)``): ``registered(worker_id)``, ``job_started(job_id)``, ``job_ended(job_id,
error)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from google.protobuf.message import DecodeError
from livekit.protocol import agent, models

from flowagents.events import EventEmitter
from flowagents.ipc.inference import registered_runners
from flowagents.ipc.inference_proc import InferenceProcess
from flowagents.ipc.job_proc import JobProcessHandle, ProcOptions, default_mp_context
from flowagents.ipc.messages import AcceptArguments, SessionsReport, StartJobRequest
from flowagents.ipc.proc_pool import NoProcessAvailable, ProcPool
from flowagents.job.request import JobRequest
from flowagents.worker.connection import (
    AuthError,
    ConnectError,
    agent_ws_url,
    connect_and_register,
    public_url,
    retrying,
)
from flowagents.worker.health import HealthServer
from flowagents.worker.inspect_board import InspectBoard
from flowagents.worker.load import CpuLoadMonitor
from flowagents.worker.metrics import WorkerMetrics
from flowagents.worker.options import WorkerOptions, WorkerType

__all__ = ["RunningJob", "Worker"]

logger = logging.getLogger("flowagents.worker")


@dataclass
class RunningJob:
    """A job this worker runs (or is launching)."""

    job: agent.Job
    accept: AcceptArguments
    assigned_at: float
    proc: JobProcessHandle | None = None
    status: str = "pending"
    started_at: float | None = None
    latency: dict[str, float] = field(default_factory=dict)  # last value of each voice metric

    def snapshot(self) -> dict[str, Any]:
        proc = self.proc
        return {"id": self.job.id, "room": self.job.room.name, "status": self.status,
                "pid": None if proc is None else proc.pid,
                "memory_mb": None if proc is None else round(proc.memory_mb, 1),
                "ping_ms": None if proc is None or proc.ping_rtt is None
                else round(proc.ping_rtt * 1000, 1),
                "started_at": self.started_at,
                "latency": {k: round(v, 4) for k, v in self.latency.items()}}


@dataclass
class _Tasks:
    """A set of owned tasks, all cancelled on close."""

    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def cancel_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Worker(EventEmitter):
    """One worker process; ``await run()`` until drained or closed."""

    def __init__(self, opts: WorkerOptions, *, dev_mode: bool = False,
                 serve_http: bool = True) -> None:
        self._opts = opts.resolved(dev_mode=dev_mode)
        self._dev_mode = dev_mode
        self._serve_http = serve_http
        self._jobs: dict[str, RunningJob] = {}
        self._pending: dict[str, asyncio.Future[agent.JobAssignment]] = {}
        self._tasks = _Tasks()
        self._job_tasks = _Tasks()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._outbox: list[agent.WorkerMessage] = []
        self._http: aiohttp.ClientSession | None = None
        self._draining = False
        self._closing = False
        self._healthy = True
        self._closed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._registered = asyncio.Event()
        EventEmitter.__init__(self)
        self.worker_id = ""
        self.registrations = 0
        self.server_rtt: float | None = None  # seconds, from the last WorkerPong
        self._load_monitor = CpuLoadMonitor()
        self.metrics = WorkerMetrics()
        o = self._opts
        mp_ctx = default_mp_context()
        # child processes log at the worker's level (the CLI's --log-level), and not below it
        child_log_level = logging.getLogger().getEffectiveLevel()
        # the live graph view (/inspect): job processes count per node when the page is served,
        # and report their sessions while it is watched
        self.inspect = InspectBoard(on_watch=self._on_inspect_watch)
        runners = registered_runners()
        self._inference: InferenceProcess | None = None
        if runners:
            self._inference = InferenceProcess(
                runners=runners, mp_ctx=mp_ctx, initialize_timeout=o.initialize_inference_timeout,
                ping_interval=o.process_ping_interval, ping_timeout=o.process_ping_timeout,
                log_level=child_log_level)
        self._pool = ProcPool(
            entrypoint_fnc=o.entrypoint_fnc, prewarm_fnc=o.prewarm_fnc,
            num_idle_processes=o.effective_num_idle_processes, mp_ctx=mp_ctx,
            inference_handler=None if self._inference is None else self._inference.do_inference,
            metrics_handler=self._on_job_metrics, inspect_handler=self._on_sessions_report,
            opts=ProcOptions(
                initialize_timeout=o.initialize_process_timeout,
                shutdown_timeout=o.shutdown_process_timeout,
                ping_interval=o.process_ping_interval, ping_timeout=o.process_ping_timeout,
                memory_warn_mb=o.job_memory_warn_mb, memory_limit_mb=o.job_memory_limit_mb,
                memory_check_interval=o.memory_check_interval,
                restart_base_delay=o.process_restart_base_delay,
                restart_max_delay=o.process_restart_max_delay,
                log_level=child_log_level, inspect=serve_http))
        self._fatal: ConnectError | None = None
        self._health = HealthServer(host=o.host, port=o.effective_port,
                                    healthy=lambda: self.healthy,
                                    state=self.state, metrics=self.metrics.render,
                                    inspect=self.inspect)
        self.metrics.bind("flowagents_worker_load", "Worker load (0-1)", lambda: self.load)
        self.metrics.bind("flowagents_worker_jobs_running", "Jobs running",
                          lambda: float(len(self._jobs)))
        self.metrics.bind("flowagents_worker_idle_processes", "Pre-warmed idle processes",
                          lambda: float(self._pool.idle_count))
        self.metrics.bind("flowagents_worker_connected", "1 when registered with the server",
                          lambda: float(self._ws is not None and not self._ws.closed))
        self.metrics.bind("flowagents_worker_warming_processes", "Job processes initialising",
                          lambda: float(self._pool.warming_count))
        self.metrics.bind("flowagents_worker_process_init_failures",
                          "Job processes that failed to initialise",
                          lambda: float(self._pool.init_failures))
        self.metrics.bind("flowagents_worker_server_rtt_seconds",
                          "Round trip of the last WorkerPing", lambda: self.server_rtt or 0.0)
        if self._inference is not None:
            inf = self._inference
            self.metrics.bind("flowagents_worker_inference_ready",
                              "1 when the inference process is ready", lambda: float(inf.ready))
            self.metrics.bind("flowagents_worker_inference_restarts",
                              "Inference process restarts", lambda: float(inf.restarts))
            self.metrics.bind("flowagents_worker_inference_requests",
                              "Inference requests relayed", lambda: float(inf.requests_total))

    # -- public state -------------------------------------------------------------------------

    @property
    def options(self) -> WorkerOptions:
        return self._opts

    @property
    def pool(self) -> ProcPool:
        return self._pool

    @property
    def inference(self) -> InferenceProcess | None:
        """The shared inference process (None when no runner is registered)."""
        return self._inference

    @property
    def jobs(self) -> dict[str, RunningJob]:
        return dict(self._jobs)

    @property
    def healthy(self) -> bool:
        """Connected (or still retrying), job processes can start, the inference process lives."""
        return (self._healthy and self._pool.can_start
                and (self._inference is None or not self._inference.dead))

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def health_port(self) -> int:
        return self._health.port

    @property
    def load(self) -> float:
        fn = self._opts.load_fnc
        return fn() if fn is not None else self._load_monitor.load

    @property
    def full(self) -> bool:
        """Refusing jobs: draining, unhealthy, or at ``load_threshold``."""
        return (self._draining or not self.healthy
                or self.load >= self._opts.effective_load_threshold)


    def state(self) -> dict[str, Any]:
        """The worker's state as JSON-able data (served at ``/worker``)."""
        return {
            "worker_id": self.worker_id, "agent_name": self._opts.agent_name,
            "healthy": self.healthy, "connected": self._ws is not None and not self._ws.closed,
            "draining": self._draining, "dev_mode": self._dev_mode,
            "load": round(self.load, 3), "load_threshold": self._opts.effective_load_threshold
            if self._opts.effective_load_threshold != float("inf") else None,
            "status": "full" if self.full else "available",
            "jobs": [j.snapshot() for j in self._jobs.values()],
            "pool": {"idle": self._pool.idle_count, "warming": self._pool.warming_count,
                     "init_failures": self._pool.init_failures,
                     "can_start": self._pool.can_start},
            "server_rtt_ms": None if self.server_rtt is None else round(self.server_rtt * 1000, 1),
            "inference": None if self._inference is None else {
                "ready": self._inference.ready, "dead": self._inference.dead,
                "pid": self._inference.pid,
                "restarts": self._inference.restarts,
                "requests": self._inference.requests_total},
        }

    async def wait_registered(self) -> None:
        await self._registered.wait()

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the pool and health server, then stay connected until closed.

        Raises :class:`~flowagents.worker.options.MissingSettingsError` (URL, key or secret
        missing) or :class:`~flowagents.worker.health.HealthServerError` (port taken) before
        starting anything else, and the fatal :class:`ConnectError` (refused credentials, or
        ``max_retry`` attempts failed) once the worker has shut down.
        """
        self._opts.check_settings()
        if self._serve_http:
            await self._health.start()
            logger.info("health server listening", extra={"port": self._health.port})
        self._running = True
        self._http = aiohttp.ClientSession()
        self._load_monitor.start()
        if self._inference is not None:
            self._inference.start()
        self._pool.start()
        self._tasks.spawn(self._connection_loop(), "worker-connection")
        try:
            await self._closed.wait()
        finally:
            await self._shutdown()
        if self._fatal is not None:
            raise self._fatal

    async def drain(self, drain_timeout: float | None = None) -> None:
        """Stop accepting jobs, wait for running ones (up to ``drain_timeout``), then close.

        Jobs accepted before the drain whose assignment arrives during it are waited for too.
        """
        self._draining = True
        logger.info("draining", extra={"jobs": len(self._job_tasks.tasks)})
        await self._send_status()
        timeout = self._opts.drain_timeout if drain_timeout is None else drain_timeout
        if not await self._wait_for_jobs(timeout):
            logger.warning("drain timed out, ending remaining jobs",
                           extra={"jobs": len(self._job_tasks.tasks), "timeout": timeout})
        await self.aclose()

    async def _wait_for_jobs(self, within: float | None) -> bool:
        """Wait until no job runs or awaits its assignment; False if ``within`` ran out."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while self._job_tasks.tasks:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(list(self._job_tasks.tasks), timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
        return True

    async def aclose(self) -> None:
        """End all jobs, stop the pool and the connection; returns once ``run()`` has."""
        self._closing = True
        self._closed.set()
        if self._running:
            await self._stopped.wait()

    async def _shutdown(self) -> None:
        self._closing = True
        # end the jobs while the connection is still up, so their final status reaches the server
        ends = [j.proc.shutdown("worker shutting down")
                for j in self._jobs.values() if j.proc is not None]
        await asyncio.gather(*ends, return_exceptions=True)
        if self._job_tasks.tasks:
            await asyncio.wait(list(self._job_tasks.tasks), timeout=1.0)
        await self._job_tasks.cancel_all()  # launching jobs: each sends its final status
        await self._send_status()
        await self._tasks.cancel_all()
        await self._pool.aclose()
        if self._inference is not None:
            await self._inference.aclose()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        await self._load_monitor.aclose()
        await self._health.aclose()
        self.inspect.close()
        self._stopped.set()

    # -- connection ---------------------------------------------------------------------------

    def _register_request(self) -> agent.RegisterWorkerRequest:
        o = self._opts
        p = o.permissions
        return agent.RegisterWorkerRequest(
            type=agent.JT_ROOM if o.worker_type is WorkerType.ROOM else agent.JT_PUBLISHER,
            agent_name=o.agent_name, version=o.version,
            allowed_permissions=models.ParticipantPermission(
                can_publish=p.can_publish, can_subscribe=p.can_subscribe,
                can_publish_data=p.can_publish_data, can_update_metadata=p.can_update_metadata,
                hidden=p.hidden, agent=True))

    async def _connection_loop(self) -> None:
        try:
            while not self._closing:
                await self._connect_and_serve()
        except ConnectError as e:
            await self._give_up(e)

    async def _connect_and_serve(self) -> None:
        """Connect, register and serve sessions until one lasts; back off on short ones."""
        o = self._opts
        assert self._http is not None
        loop = asyncio.get_running_loop()
        async for attempt in retrying(o.max_retry, o.retry_base_delay, o.retry_max_delay):
            with attempt:
                n = attempt.retry_state.attempt_number
                if n > 1:
                    logger.info("reconnecting to the server",
                                extra={"attempt": n, "url": public_url(o.ws_url)})
                ws, resp = await connect_and_register(
                    self._http, url=o.ws_url, api_key=o.api_key,
                    api_secret=o.api_secret.get_secret_value(),
                    register=self._register_request(), step_timeout=o.connect_timeout)
                began = loop.time()
                await self._on_registered(ws, resp)
                await self._session(ws)
                self._ws = None
                if self._closing:
                    return
                self.metrics.reconnects_total.inc()
                lasted = loop.time() - began
                logger.warning("connection to the server lost",
                               extra={"worker_id": self.worker_id,
                                      "session_seconds": round(lasted, 3)})
                if lasted < o.retry_max_delay:  # a flapping server: keep backing off
                    raise ConnectError("the connection was lost right after registering at "
                                       f"{public_url(agent_ws_url(o.ws_url))}")

    async def _give_up(self, error: ConnectError) -> None:
        """Fatal connection error: turn unhealthy, let running jobs finish, then stop ``run()``."""
        self._healthy = False
        self._fatal = error
        what = ("the server refused the worker's credentials" if isinstance(error, AuthError)
                else "giving up connecting to the server")
        logger.error(what, extra={"reason": str(error), "attempts": self._opts.max_retry,
                                  "running_jobs": len(self._job_tasks.tasks)})
        await self._wait_for_jobs(None)
        self._closed.set()

    async def _on_registered(self, ws: aiohttp.ClientWebSocketResponse,
                             resp: agent.RegisterWorkerResponse) -> None:
        self._ws = ws
        self.worker_id = resp.worker_id
        self.registrations += 1
        logger.info("registered with the server", extra={"worker_id": resp.worker_id,
                                                          "agent_name": self._opts.agent_name})
        if self._jobs:
            await self._send(agent.WorkerMessage(migrate_job=agent.MigrateJobRequest(
                job_ids=list(self._jobs))))
        outbox, self._outbox = self._outbox, []
        for msg in outbox:
            await self._send(msg)
        await self._send_status()
        self._registered.set()
        self._emit("registered", resp.worker_id)

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        status = self._tasks.spawn(self._status_loop(), "worker-status")
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    self._on_server_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    logger.warning("ignoring a text frame from the server")
                else:
                    break
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            status.cancel()
            await asyncio.gather(status, return_exceptions=True)
            with contextlib.suppress(Exception):
                await ws.close()

    async def _send(self, msg: agent.WorkerMessage, *, queue: bool = False) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            if queue:
                self._outbox.append(msg)
            return
        try:
            await ws.send_bytes(msg.SerializeToString())
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            if queue:
                self._outbox.append(msg)

    async def _send_status(self) -> None:
        load = self.load
        await self._send(agent.WorkerMessage(update_worker=agent.UpdateWorkerStatus(
            status=agent.WS_FULL if self.full else agent.WS_AVAILABLE,
            load=min(load, 1.0), job_count=len(self._jobs))))

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opts.update_status_interval)
            await self._send_status()
            await self._send(agent.WorkerMessage(ping=agent.WorkerPing(
                timestamp=int(time.time() * 1000))))

    def _on_job_metrics(self, job_id: str | None, values: dict[str, float]) -> None:
        running = self._jobs.get(job_id or "")
        if running is not None:
            running.latency.update(values)
        for name, value in values.items():
            self.metrics.job_latency_seconds.labels(name).observe(value)

    def _on_sessions_report(self, proc: JobProcessHandle, report: SessionsReport) -> None:
        if proc.pid is not None:
            self.inspect.update(proc.pid, report)

    def _on_inspect_watch(self, interval: float) -> int:
        """The page is watched from now (report every ``interval``) or no longer (0); returns
        how many job processes were told."""
        procs = [j.proc for j in self._jobs.values() if j.proc is not None]
        for proc in procs:
            self._tasks.spawn(proc.watch(interval), "worker-inspect-watch")
        return len(procs)

    # -- server messages ----------------------------------------------------------------------

    def _on_server_bytes(self, data: bytes) -> None:
        try:
            msg = agent.ServerMessage.FromString(data)
            kind = msg.WhichOneof("message")
        except (DecodeError, ValueError, TypeError):
            logger.warning("ignoring a malformed server message", extra={"size": len(data)})
            return
        try:
            if kind == "availability":
                self._tasks.spawn(self._on_availability(msg.availability), "worker-availability")
            elif kind == "assignment":
                self._on_assignment(msg.assignment)
            elif kind == "termination":
                self._on_termination(msg.termination.job_id)
            elif kind == "pong":
                self.server_rtt = max(0.0, time.time() - msg.pong.last_timestamp / 1000)
            elif kind == "go_away":
                self._on_go_away()
            else:
                logger.warning("ignoring an unexpected server message", extra={"kind": kind})
        except Exception:
            logger.exception("failed to handle a server message", extra={"kind": kind})

    def _on_go_away(self) -> None:
        """The server is going away: reconnect now (jobs keep running and are migrated)."""
        logger.info("server sent go_away, reconnecting")
        ws = self._ws
        if ws is not None:
            self._tasks.spawn(ws.close(), "worker-go-away")

    async def _answer(self, job_id: str, available: bool,
                      args: AcceptArguments | None = None) -> None:
        resp = agent.AvailabilityResponse(job_id=job_id, available=available)
        if args is not None:
            resp.participant_identity = args.identity
            resp.participant_name = args.name
            resp.participant_metadata = args.metadata
            resp.participant_attributes.update(args.attributes)
        self.metrics.availability_total.labels("accept" if available else "reject").inc()
        await self._send(agent.WorkerMessage(availability=resp))

    async def _on_availability(self, areq: agent.AvailabilityRequest) -> None:
        job = areq.job
        if self.full or self._closing:
            await self._answer(job.id, False)
            return

        async def on_answer(accept: bool, args: AcceptArguments | None) -> None:
            if not accept or args is None or self._draining or self._closing:
                await self._answer(job.id, False)
                return
            fut: asyncio.Future[agent.JobAssignment] = asyncio.get_running_loop().create_future()
            self._pending[job.id] = fut
            # a job task from the moment we accept, so a drain waits for its assignment too
            self._job_tasks.spawn(self._assigned_job(job, fut, args), "worker-job")
            await self._answer(job.id, True, args)

        req = JobRequest(job, on_answer, resuming=areq.resuming)
        try:
            await self._opts.request_fnc(req)
        except Exception:
            logger.exception("request_fnc failed", extra={"job_id": job.id})
        if not req.answered:
            logger.warning("request_fnc did not answer, rejecting", extra={"job_id": job.id})
            await req.reject()

    def _on_assignment(self, assignment: agent.JobAssignment) -> None:
        job_id = assignment.job.id
        fut = self._pending.get(job_id)
        if job_id in self._jobs or fut is None or fut.done():
            logger.warning("ignoring an assignment for an unknown or running job",
                           extra={"job_id": job_id})
            return
        fut.set_result(assignment)

    def _on_termination(self, job_id: str) -> None:
        running = self._jobs.get(job_id)
        if running is None or running.proc is None:
            logger.warning("termination for an unknown job", extra={"job_id": job_id})
            return
        self._tasks.spawn(running.proc.shutdown("terminated by the server"), "worker-terminate")

    # -- jobs ---------------------------------------------------------------------------------

    async def _update_job(self, job_id: str, status: agent.JobStatus,
                          error: str = "") -> None:
        await self._send(agent.WorkerMessage(update_job=agent.UpdateJobStatus(
            job_id=job_id, status=status, error=error)), queue=True)

    async def _assigned_job(self, job: agent.Job, fut: asyncio.Future[agent.JobAssignment],
                            args: AcceptArguments) -> None:
        try:
            assignment = await asyncio.wait_for(fut, self._opts.assignment_timeout)
        except TimeoutError:
            logger.warning("no assignment received in time, dropping the job",
                           extra={"job_id": job.id, "room_name": job.room.name,
                                  "timeout": self._opts.assignment_timeout})
            return
        finally:
            self._pending.pop(job.id, None)
        await self._run_job(assignment, args)

    async def _run_job(self, assignment: agent.JobAssignment, args: AcceptArguments) -> None:
        job = assignment.job
        running = RunningJob(job=job, accept=args, assigned_at=time.time())
        self._jobs[job.id] = running
        extra = {"job_id": job.id, "room_name": job.room.name, "worker_id": self.worker_id}
        try:
            try:
                proc = await self._pool.launch_job()
            except NoProcessAvailable:
                logger.error("no job process available, failing the job", extra=extra)
                await self._end_job(running, "no job process became ready")
                return
            running.proc = proc
            await proc.launch_job(StartJobRequest(
                job=job.SerializeToString(), url=assignment.url or self._opts.ws_url,
                token=assignment.token, accept=args, worker_id=self.worker_id), job.id)
            if self.inspect.watching:
                await proc.watch(self.inspect.interval)
            try:
                running.started_at = await proc.started
                running.status = "running"
                self.metrics.job_launch_seconds.observe(
                    max(0.0, running.started_at - running.assigned_at))
                logger.info("job started", extra={**extra, "pid": proc.pid})
                await self._update_job(job.id, agent.JS_RUNNING)
                self._emit("job_started", job.id)
            except asyncio.CancelledError:
                if not proc.done.done():
                    raise
            result = await proc.done
            await self._end_job(running, result.error)
        except asyncio.CancelledError:
            # closed before the job ended by itself: it still gets its final status
            if running.proc is not None:
                await running.proc.kill("worker shutting down")
            await self._end_job(running, "worker shutting down")
            raise
        finally:
            self._jobs.pop(job.id, None)
            if running.proc is not None and running.proc.pid is not None:
                self.inspect.drop(running.proc.pid)  # its sessions leave the page

    async def _end_job(self, running: RunningJob, error: str | None) -> None:
        if running.status in ("success", "failed"):
            return
        job_id = running.job.id
        running.status = "failed" if error else "success"
        self.metrics.jobs_total.labels(running.status).inc()
        extra = {"job_id": job_id, "room_name": running.job.room.name,
                 "worker_id": self.worker_id}
        if error:
            logger.warning("job failed", extra={**extra, "error": error})
            await self._update_job(job_id, agent.JS_FAILED, error)
        else:
            logger.info("job ended", extra=extra)
            await self._update_job(job_id, agent.JS_SUCCESS)
        self._jobs.pop(job_id, None)
        self._emit("job_ended", job_id, error)
