"""A worker in a process of its own, for the scale-out tests and the benchmark.

``python lk_worker_main.py OUT_DIR AGENT_NAME CAPACITY [PREWARM]``: registers with the server
named by ``LIVEKIT_*`` and reports its load so that CAPACITY running jobs reach the default
``load_threshold`` (0.7) and make it full, so the server's load balancing is visible (the server
itself gives a job only to workers below its target load, 0.7); prints ``registered <worker
id>`` once registered. SIGTERM closes it (its jobs end); SIGKILL is what the tests use to kill
it mid-job.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

from lk_agents import AgentConfig, entrypoint, prewarm
from lk_server import LiveKitServer

from flowagents.worker import Worker, WorkerOptions

HERE = Path(__file__).resolve().parent


class WorkerProcess:
    """This script run as a child process (what the scale-out test and benchmark start)."""

    def __init__(self, server: LiveKitServer, out_dir: str, agent_name: str,
                 capacity: int = 5) -> None:
        env = {**os.environ, **server.env,
               "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), str(HERE)])}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "lk_worker_main.py"), out_dir, agent_name,
             str(capacity)], env=env, stdout=subprocess.PIPE, text=True)
        self.worker_id = ""

    async def registered(self) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 30)
        assert line.startswith("registered "), line
        self.worker_id = line.split()[1]
        return self.worker_id

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class JobCountLoad:
    """Load in proportion to the running jobs: ``capacity`` jobs reach the 0.7 threshold."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.worker: Worker | None = None

    def __call__(self) -> float:
        return 0.0 if self.worker is None else 0.7 * len(self.worker.jobs) / self.capacity


async def main(out_dir: str, agent_name: str, capacity: int, with_prewarm: bool) -> None:
    load = JobCountLoad(capacity)
    worker = Worker(WorkerOptions(
        entrypoint_fnc=functools.partial(entrypoint, AgentConfig(out_dir=out_dir)),
        prewarm_fnc=prewarm if with_prewarm else None, agent_name=agent_name, load_fnc=load,
        num_idle_processes=2, update_status_interval=0.3,
        shutdown_process_timeout=5.0, port=0, host="127.0.0.1"), serve_http=False)
    load.worker = worker
    worker.on("registered", lambda wid: print(f"registered {wid}", flush=True))
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()
    loop.add_signal_handler(signal.SIGTERM, lambda: closing.add(loop.create_task(worker.aclose())))
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]),
                     len(sys.argv) > 4 and sys.argv[4] == "prewarm"))
