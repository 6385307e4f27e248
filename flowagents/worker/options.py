"""WorkerOptions: everything a worker needs, with LiveKit Agents' defaults.

Settings that differ between production and dev mode (``load_threshold``, ``num_idle_processes``,
``port``) are :data:`NOT_GIVEN` until :meth:`WorkerOptions.resolved` picks the mode's default.
Credentials default to the ``LIVEKIT_URL`` / ``LIVEKIT_API_KEY`` / ``LIVEKIT_API_SECRET``
environment variables, with no fallback: :meth:`WorkerOptions.check_settings` names what is missing
before anything starts, rather than a worker retrying ``localhost`` forever. The secret is a
``SecretStr`` so it never shows in a repr or a log line.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from flowagents.callbacks import check_callback
from flowagents.errors import NOT_GIVEN, NotGiven
from flowagents.job.context import JobContext
from flowagents.job.process import JobProcess
from flowagents.job.request import JobRequest, default_request_fnc

__all__ = ["MissingSettingsError", "WorkerOptions", "WorkerPermissions", "WorkerType"]

DEFAULT_PORT = 8081


class MissingSettingsError(ValueError):
    """The server URL, API key or secret is not set (the message names the flags and variables)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("missing " + ", ".join(missing))
        self.missing = missing


class WorkerType(enum.Enum):
    """Which jobs the server dispatches: one per room, or one per publishing participant."""

    ROOM = "room"
    PUBLISHER = "publisher"


class WorkerPermissions(BaseModel):
    """What the agent participant may do in the room (sent at registration)."""

    model_config = ConfigDict(frozen=True)

    can_publish: bool = True
    can_subscribe: bool = True
    can_publish_data: bool = True
    can_update_metadata: bool = True
    hidden: bool = False


def _cpu_count() -> int:
    return os.cpu_count() or 1


class WorkerOptions(BaseModel):
    """Options of one worker (see docs/worker.md for each)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    entrypoint_fnc: Callable[[JobContext], Awaitable[None]]
    request_fnc: Callable[[JobRequest], Awaitable[None]] = default_request_fnc
    prewarm_fnc: Callable[[JobProcess], Any] | None = None
    load_fnc: Callable[[], float] | None = None
    agent_name: str = ""
    worker_type: WorkerType = WorkerType.ROOM
    permissions: WorkerPermissions = Field(default_factory=WorkerPermissions)
    version: str = ""
    load_threshold: float | NotGiven = NOT_GIVEN
    num_idle_processes: int | NotGiven = NOT_GIVEN
    initialize_process_timeout: float = 10.0
    initialize_inference_timeout: float = 60.0
    shutdown_process_timeout: float = 60.0
    job_memory_warn_mb: float = 1000.0
    job_memory_limit_mb: float = 0.0
    memory_check_interval: float = 0.1
    process_restart_base_delay: float = 0.5
    process_restart_max_delay: float = 30.0
    drain_timeout: float = 1800.0
    assignment_timeout: float = 7.5
    update_status_interval: float = 2.5
    process_ping_interval: float = 2.5
    process_ping_timeout: float = 90.0
    max_retry: int = 16
    retry_base_delay: float = 1.0
    retry_max_delay: float = 10.0
    connect_timeout: float = 10.0
    ws_url: str = Field(default_factory=lambda: os.environ.get("LIVEKIT_URL", ""))
    api_key: str = Field(default_factory=lambda: os.environ.get("LIVEKIT_API_KEY", ""))
    api_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(os.environ.get("LIVEKIT_API_SECRET", "")))
    host: str = ""
    port: int | NotGiven = NOT_GIVEN

    # LiveKit's shapes, checked when the options are made rather than in a job process later
    @field_validator("entrypoint_fnc")
    @classmethod
    def _entrypoint(cls, fn: Any) -> Any:
        check_callback(fn, where="WorkerOptions(entrypoint_fnc=...)", is_async=True, args=(1,),
                       expects="async def entrypoint(ctx: JobContext)")
        return fn

    @field_validator("request_fnc")
    @classmethod
    def _request(cls, fn: Any) -> Any:
        check_callback(fn, where="WorkerOptions(request_fnc=...)", is_async=True, args=(1,),
                       expects="async def request_fnc(req: JobRequest)")
        return fn

    @field_validator("prewarm_fnc")
    @classmethod
    def _prewarm(cls, fn: Any) -> Any:
        if fn is not None:
            check_callback(fn, where="WorkerOptions(prewarm_fnc=...)", is_async=False,
                           args=(1,), expects="def prewarm(proc: JobProcess) (not async)")
        return fn

    @field_validator("load_fnc")
    @classmethod
    def _load(cls, fn: Any) -> Any:
        if fn is not None:
            check_callback(fn, where="WorkerOptions(load_fnc=...)", is_async=False, args=(0,),
                           expects="def load_fnc() -> float (not async)")
        return fn

    def check_settings(self) -> None:
        """Raise :class:`MissingSettingsError` unless the URL, key and secret are all set."""
        missing = [what for what, value in (
            ("the server URL (--url or LIVEKIT_URL)", self.ws_url),
            ("the API key (--api-key or LIVEKIT_API_KEY)", self.api_key),
            ("the API secret (--api-secret or LIVEKIT_API_SECRET)",
             self.api_secret.get_secret_value())) if not value.strip()]
        if missing:
            raise MissingSettingsError(missing)

    def resolved(self, *, dev_mode: bool) -> WorkerOptions:
        """A copy with the mode-dependent defaults filled in (dev: any free health port)."""
        updates: dict[str, Any] = {}
        if isinstance(self.port, NotGiven):
            updates["port"] = 0 if dev_mode else DEFAULT_PORT
        if isinstance(self.load_threshold, NotGiven):
            updates["load_threshold"] = math.inf if dev_mode else 0.7
        if isinstance(self.num_idle_processes, NotGiven):
            updates["num_idle_processes"] = 0 if dev_mode else min(_cpu_count(), 4)
        return self.model_copy(update=updates)

    @property
    def effective_load_threshold(self) -> float:
        return 0.7 if isinstance(self.load_threshold, NotGiven) else self.load_threshold

    @property
    def effective_port(self) -> int:
        return DEFAULT_PORT if isinstance(self.port, NotGiven) else self.port

    @property
    def effective_num_idle_processes(self) -> int:
        n = self.num_idle_processes
        return min(_cpu_count(), 4) if isinstance(n, NotGiven) else n
