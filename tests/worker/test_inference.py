"""The shared inference process across real processes: job -> worker -> inference -> job.

A worker with registered runners starts one inference process; jobs call
``ctx.inference_executor.do_inference``; the inference process is restarted when it dies.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
from fake_server import FakeLiveKitServer, until
from livekit.protocol import agent
from wk_entrypoints import FailingRunner, Sha256Runner, read_lines

from flowagents.ipc import inference


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "_RUNNERS", {})
    inference.register_runner(Sha256Runner)
    inference.register_runner(FailingRunner)


def infer_job(job_id: str, out: Path, *requests: tuple[str, str]) -> agent.Job:
    meta = json.dumps({"out": str(out), "mode": "infer", "requests": list(requests)})
    return FakeLiveKitServer.make_job(job_id, metadata=meta)


def answers(path: Path) -> list[str]:
    return [line for line in read_lines(path) if line.startswith(("result", "error"))]


def sha(text: str) -> str:
    return hashlib.sha256(b"flowagents" + text.encode()).hexdigest()


def test_registry_refuses_a_second_runner_under_the_same_name(runners: None) -> None:
    class Other(inference.InferenceRunner):
        INFERENCE_METHOD = "test.sha256"

        def run(self, data: bytes) -> bytes | None:
            return data

    with pytest.raises(ValueError, match="already registered"):
        inference.register_runner(Other)
    assert inference.registered_runners()["test.sha256"] is Sha256Runner


async def test_jobs_share_the_inference_process_and_it_is_restarted_when_killed(
        runners: None, server: FakeLiveKitServer, make_worker, tmp_path: Path) -> None:
    worker = await make_worker(num_idle_processes=2)
    assert worker.inference is not None
    await worker.inference.wait_ready()
    first_pid = worker.inference.pid
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    await server.dispatch(infer_job("JA", a, ("test.sha256", "hello"), ("test.fail", "x"),
                                    ("test.nope", "y")))
    await server.dispatch(infer_job("JB", b, ("test.sha256", "world")))
    await server.job_status("JA", agent.JS_SUCCESS)
    await server.job_status("JB", agent.JS_SUCCESS)
    assert answers(a) == [
        f"result {sha('hello')}",
        "error inference failed: ValueError: bad payload",
        "error inference failed: unknown inference method 'test.nope'"]
    assert answers(b) == [f"result {sha('world')}"]

    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    await until(lambda: worker.inference is not None and worker.inference.ready
                and worker.inference.pid != first_pid, within=10)
    assert worker.inference.restarts == 1
    c = tmp_path / "c.txt"
    await server.dispatch(infer_job("JC", c, ("test.sha256", "again")))
    await server.job_status("JC", agent.JS_SUCCESS)
    assert answers(c) == [f"result {sha('again')}"]
