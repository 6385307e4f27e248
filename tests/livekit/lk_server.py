"""A LiveKit server for the tests and the benchmark: the one the test command started
(``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``), or one started here with
``scripts/livekit-server.sh`` (which builds it from its Go module the first time).

Without Go the server cannot be built: :class:`NoGo` says so, and the tests skip with that
reason, except in CI (``CI`` set), where a missing server fails them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
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


def start_server(*, redis: str | None = None) -> LiveKitServer:
    """A new server on loopback (raises :class:`NoGo` without Go, RuntimeError if it fails)."""
    state = tempfile.mkdtemp(prefix="flowagents-livekit-")
    args = ["bash", str(SCRIPT), "start", "--state", state]
    if redis is not None:
        args += ["--redis", redis]
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
