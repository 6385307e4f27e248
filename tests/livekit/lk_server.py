"""A LiveKit server for the tests and the benchmark: the one the test command started
(``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``), or one started here with
``scripts/livekit-server.sh`` (which builds it from its Go module the first time).

Without Go the server cannot be built: :class:`NoGo` says so, and the tests skip with that
reason, except in CI (``CI`` set), where a missing server fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "livekit-server.sh"


class NoGo(RuntimeError):
    """No Go toolchain to build the server with."""


@dataclass(frozen=True)
class LiveKitServer:
    url: str
    api_key: str
    api_secret: str
    state: str | None = None  # set when started here (stop() ends it)

    @property
    def env(self) -> dict[str, str]:
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key,
                "LIVEKIT_API_SECRET": self.api_secret}

    def stop(self) -> None:
        if self.state is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", "--state", self.state], check=False)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def start_server(*, redis: str | None = None, region: str | None = None) -> LiveKitServer:
    """A new server on loopback (raises :class:`NoGo` without Go, RuntimeError if it fails)."""
    state = tempfile.mkdtemp(prefix="flowagents-livekit-")
    args = ["bash", str(SCRIPT), "start", "--state", state]
    if redis is not None:
        args += ["--redis", redis]
    if region is not None:
        args += ["--region", region]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode == 3:
        raise NoGo(proc.stderr.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"livekit-server did not start:\n{proc.stderr}")
    env = dict(line.removeprefix("export ").split("=", 1)
               for line in proc.stdout.splitlines() if line.startswith("export "))
    return LiveKitServer(env["LIVEKIT_URL"], env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"],
                         state)


def server_from_env() -> LiveKitServer | None:
    url, key, secret = (os.environ.get(v) for v in
                        ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"))
    if url and key and secret:
        return LiveKitServer(url, key, secret)
    return None


class Redis:
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
