"""What flows besides jobs: WorkerPing/WorkerPong latency, go_away, job logs and job metrics.

A job's log records reach the worker's logging (with the job's ``log_context_fields``), and the
latency figures of its voice metrics reach ``/metrics`` and ``/worker``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fake_server import FakeLiveKitServer, until
from livekit.protocol import agent


def meta(out: Path, mode: str) -> str:
    return json.dumps({"out": str(out), "mode": mode})


async def test_worker_pings_the_server_and_measures_the_round_trip(
        server: FakeLiveKitServer, make_worker) -> None:
    worker = await make_worker()
    ping = await server.wait_for("ping")
    assert ping.ping.timestamp > 0
    await until(lambda: worker.server_rtt is not None)
    assert 0.0 <= worker.server_rtt < 5.0  # type: ignore[operator]
    assert b"flowagents_worker_server_rtt_seconds" in worker.metrics.render()


async def test_go_away_makes_the_worker_reconnect_and_migrate_its_jobs(
        server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker()
    await server.dispatch(server.make_job("J1", metadata=meta(tmp_path / "o", "wait")))
    await server.job_status("J1", agent.JS_RUNNING)
    await server.send(agent.ServerMessage(go_away=agent.AgentHttp.GoAway(reason="restart")))
    await server.wait_connected(2)
    migrate = await server.wait_for("migrate_job")
    assert list(migrate.migrate_job.job_ids) == ["J1"]
    assert worker.registrations == 2
    assert worker.jobs["J1"].status == "running"
    await server.terminate("J1")
    await server.job_status("J1", agent.JS_SUCCESS)


async def test_job_logs_and_voice_metrics_reach_the_worker(
        server: FakeLiveKitServer, make_worker, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    worker = await make_worker()
    await server.dispatch(server.make_job("J1", metadata=meta(tmp_path / "o", "report")))
    await server.job_status("J1", agent.JS_RUNNING)
    await until(lambda: any(r.name == "wk.job" for r in caplog.records))
    record = next(r for r in caplog.records if r.name == "wk.job")
    assert record.getMessage() == "job says hello"
    assert record.levelno == logging.WARNING
    assert record.job_id == "J1"  # type: ignore[attr-defined]
    assert record.room_name == "room"  # type: ignore[attr-defined]
    assert record.user_field == "u1"  # type: ignore[attr-defined]
    assert record.step == 1  # type: ignore[attr-defined]
    assert record.process == worker.jobs["J1"].proc.pid  # type: ignore[union-attr]
    await until(lambda: "eou_delay" in worker.jobs["J1"].latency)
    assert worker.jobs["J1"].latency == {"llm_ttft": 0.25, "llm_duration": 0.5,
                                         "eou_delay": 0.6, "transcription_delay": 0.0}
    assert worker.state()["jobs"][0]["latency"]["llm_ttft"] == 0.25
    text = worker.metrics.render().decode()
    assert 'flowagents_job_latency_seconds_count{metric="llm_ttft"} 1.0' in text
    assert 'flowagents_job_latency_seconds_sum{metric="eou_delay"} 0.6' in text
    await server.terminate("J1")
    await server.job_status("J1", agent.JS_SUCCESS)
