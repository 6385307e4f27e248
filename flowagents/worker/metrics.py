"""Prometheus metrics of one worker: jobs, load, pool, launch latency and the jobs' voice latency.

Each worker has its own ``CollectorRegistry`` (several workers in one test process must not clash);
gauges read the worker's live state when scraped rather than being pushed on every change.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["WorkerMetrics"]


class WorkerMetrics:
    """The metrics served at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs_total = Counter("flowagents_worker_jobs", "Jobs ended, by final status",
                                  ["status"], registry=self.registry)
        self.availability_total = Counter(
            "flowagents_worker_availability", "Availability answers, by answer",
            ["answer"], registry=self.registry)
        self.job_launch_seconds = Histogram(
            "flowagents_worker_job_launch_seconds",
            "From assignment received to entrypoint started",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry)
        self.job_latency_seconds = Histogram(
            "flowagents_job_latency_seconds",
            "Voice latency reported by jobs (llm_ttft, tts_ttfb, eou_delay, ...)", ["metric"],
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
            registry=self.registry)
        self.reconnects_total = Counter("flowagents_worker_reconnects",
                                        "Reconnections to the server", registry=self.registry)
        self._gauges: dict[str, Gauge] = {}

    def bind(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        """A gauge whose value is ``fn()`` at scrape time."""
        gauge = Gauge(name, doc, registry=self.registry)
        gauge.set_function(fn)
        self._gauges[name] = gauge

    def render(self) -> bytes:
        return generate_latest(self.registry)
