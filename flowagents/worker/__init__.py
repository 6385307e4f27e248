"""The worker: LiveKit agent protocol client, options, load, drain and health server."""

from flowagents.job.request import JobRequest
from flowagents.worker.options import WorkerOptions, WorkerPermissions, WorkerType
from flowagents.worker.worker import RunningJob, Worker

__all__ = ["JobRequest", "RunningJob", "Worker", "WorkerOptions", "WorkerPermissions",
           "WorkerType"]
