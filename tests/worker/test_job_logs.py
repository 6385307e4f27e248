"""Inside a job process every log record carries the job's fields (``install_log_context``);
the job's own log calls must not pass them again as ``extra`` (logging refuses to overwrite a
record attribute: ``ctx.connect()`` raised ``KeyError`` in every real job)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from livekit.protocol import agent, models

from flowagents.job import JobContext, JobProcess
from flowagents.job.log import install_log_context

_current: list[JobContext] = []  # the context whose fields the log context adds (this test's)
install_log_context(lambda: _current[0].log_context_fields if _current else None)


class _Room:
    def on(self, *_: Any) -> None: ...

    async def connect(self, *_: Any) -> None: ...

    async def disconnect(self) -> None:
        raise ConnectionError("already gone")


async def test_job_context_logs_with_the_log_context_installed(
        caplog: pytest.LogCaptureFixture) -> None:
    ctx = JobContext(job=agent.Job(id="AJ_1", room=models.Room(name="r1")), proc=JobProcess(),
                     url="ws://127.0.0.1:1", token="t")
    ctx._room = _Room()  # type: ignore[assignment]
    _current.append(ctx)
    try:
        with caplog.at_level(logging.INFO, logger="flowagents.job"):
            await ctx.connect()
            await ctx._disconnect()
    finally:
        _current.clear()
    records = {r.getMessage(): r for r in caplog.records}
    assert records["connected to room"].room_name == "r1"  # type: ignore[attr-defined]
    assert records["room disconnect failed"].job_id == "AJ_1"  # type: ignore[attr-defined]
