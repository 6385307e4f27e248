"""Entrypoints and prewarm functions the worker tests run in real job processes.

They must be module-level (job processes import them by name). Each entrypoint reads its script
from the job's metadata (JSON: where to write, what to do) and reports by appending lines to a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from flowagents.ipc.inference import InferenceRunner
from flowagents.job import JobContext, JobProcess, get_job_context
from flowagents.metrics import EOUMetrics, LLMMetrics


def _report(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


async def scripted(ctx: JobContext) -> None:
    """Do what the job metadata says: return, wait, fail, hog memory, infer."""
    started = time.time()
    script = json.loads(ctx.job.metadata)
    out = script["out"]
    assert get_job_context() is ctx
    warm = ctx.proc.userdata.get("warm", False)
    _report(out, f"started {ctx.job.id} {os.getpid()} {started} warm={warm}")
    ctx.add_shutdown_callback(lambda reason: _on_shutdown(out, ctx.job.id, reason))
    mode = script.get("mode", "return")
    if mode == "wait":
        await ctx.wait_for_shutdown()
    elif mode == "fail":
        raise RuntimeError("entrypoint failed on purpose")
    elif mode == "hog":
        ctx.proc.userdata["ballast"] = bytearray(script.get("mb", 200) * 1024 * 1024)
        for i in range(0, len(ctx.proc.userdata["ballast"]), 4096):
            ctx.proc.userdata["ballast"][i] = 1
        await ctx.wait_for_shutdown()
    elif mode == "grow":  # allocate step_mb every interval, reporting the RSS, until killed
        ballast: list[bytearray] = []
        while True:
            block = bytearray(script["step_mb"] * 1024 * 1024)
            block[::4096] = b"\1" * (len(block) // 4096)  # touch every page: resident now
            ballast.append(block)
            _report(out, f"rss {rss_mb():.1f}")
            await asyncio.sleep(script["interval"])
    elif mode == "block":  # block the job's loop: it cannot answer a shutdown request
        time.sleep(script.get("seconds", 30))  # noqa: ASYNC251 - blocking on purpose
    elif mode == "sleep":
        await asyncio.sleep(script.get("seconds", 0.3))
    elif mode == "report":
        ctx.log_context_fields["user_field"] = "u1"
        logging.getLogger("wk.job").warning("job says hello", extra={"step": 1})
        ctx.report_metrics(LLMMetrics(timestamp=0.0, ttft=0.25, duration=0.5))
        ctx.report_metrics(EOUMetrics(timestamp=0.0, end_of_utterance_delay=0.6))
        await ctx.wait_for_shutdown()
    elif mode == "infer":
        for method, payload in script["requests"]:
            try:
                result = await ctx.inference_executor.do_inference(method, payload.encode())
                _report(out, f"result {(result or b'').hex()}")
            except Exception as e:
                _report(out, f"error {e}")


async def _on_shutdown(out: str, job_id: str, reason: str) -> None:
    _report(out, f"shutdown {job_id} {reason}")


def prewarm(proc: JobProcess) -> None:
    proc.userdata["warm"] = True


class HangOnce:
    """Prewarm that hangs in the first process to run it (a marker file says who was first)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, proc: JobProcess) -> None:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            proc.userdata["warm"] = True
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(3600)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def hang_forever(proc: JobProcess) -> None:
    """Prewarm that never finishes."""
    time.sleep(3600)


class Sha256Runner(InferenceRunner):
    """A deterministic shared "model": the SHA-256 of the payload, salted at initialise time."""

    INFERENCE_METHOD = "test.sha256"

    def initialize(self) -> None:
        self.salt = b"flowagents"

    def run(self, data: bytes) -> bytes | None:
        return hashlib.sha256(self.salt + data).digest()


class FailingRunner(InferenceRunner):
    INFERENCE_METHOD = "test.fail"

    def run(self, data: bytes) -> bytes | None:
        raise ValueError("bad payload")


def zero_load() -> float:
    return 0.0


async def probe(ctx: JobContext) -> None:
    """For ``connect``: report the job to the file named by ``FLOWAGENTS_TEST_OUT``."""
    _report(os.environ["FLOWAGENTS_TEST_OUT"],
            f"probe {ctx.job.room.name} {ctx.accept_arguments.identity} {ctx.job.id}")



class FailWhile:
    """Prewarm that raises while a flag file exists (a broken model path, fixed later)."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, proc: JobProcess) -> None:
        if os.path.exists(self.flag):
            logging.getLogger("wk.prewarm").info("loading the model")
            raise ValueError(f"no model at {self.flag}")
        proc.userdata["warm"] = True


class SlowWhile:
    """Prewarm that takes an hour while a flag file exists (a process that never gets ready)."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, proc: JobProcess) -> None:
        if os.path.exists(self.flag):
            time.sleep(3600)
        proc.userdata["warm"] = True


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
