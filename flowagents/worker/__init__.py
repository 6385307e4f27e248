"""The worker: LiveKit agent protocol client, options, load, drain and health server."""

from flowagents.job.request import JobRequest
from flowagents.worker.connection import AuthError, ConnectError
from flowagents.worker.health import HealthServerError
from flowagents.worker.options import (
    MissingSettingsError,
    WorkerOptions,
    WorkerPermissions,
    WorkerType,
)
from flowagents.worker.worker import RunningJob, Worker

__all__ = ["AuthError", "ConnectError", "HealthServerError", "JobRequest",
           "MissingSettingsError", "RunningJob", "Worker", "WorkerOptions", "WorkerPermissions",
           "WorkerType"]
