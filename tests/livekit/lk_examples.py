"""Run the LiveKit examples of ``examples/livekit/`` in real job processes, unchanged.

A job process loads the example file by path and calls its own ``prewarm`` and ``entrypoint``;
before that the wrapper points the hosted providers at the test's local servers through the
environment (``OPENAI_BASE_URL``, ``DEEPGRAM_BASE_URL``, ... and their keys: the job's environment
comes from the worker's process pool, not the test's, so the wrapper sets it) and has every
session the example starts on the room report its events to ``<out_dir>/events.jsonl`` (through
the room opener, so the example's code is untouched).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from flowagents.job import JobContext, JobProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "livekit"


class ExampleConfig(BaseModel):
    """Which example runs, where it reports, and the environment its providers read."""

    name: str
    out_dir: str
    env: dict[str, str] = {}


def load(name: str) -> ModuleType:
    """``examples/livekit/<name>.py`` as a module (once per process)."""
    module_name = f"lk_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def report(cfg: ExampleConfig, kind: str, **fields: Any) -> None:
    line = json.dumps({"kind": kind, "t": time.monotonic(), "pid": os.getpid(), **fields})
    fd = os.open(Path(cfg.out_dir) / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_events(out_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def prewarm(cfg: ExampleConfig, proc: JobProcess) -> None:
    os.environ.update(cfg.env)
    example = load(cfg.name)
    if hasattr(example, "prewarm"):
        example.prewarm(proc)
        report(cfg, "prewarmed", userdata=sorted(proc.userdata))


def _watch_sessions(cfg: ExampleConfig) -> None:
    """Report the events of every session started on a room in this process."""
    from flowagents.session import AgentSession

    opener = AgentSession.room_opener
    assert opener is not None

    async def watched(session: AgentSession, room: Any, options: Any) -> Any:
        def item(ev: Any) -> None:
            i = ev.item
            report(cfg, "item", role=i.role, text=i.text_content or "",
                   agent=type(session.current_agent).__name__)

        session.on("conversation_item_added", item)
        session.on("function_tools_executed", lambda ev: report(
            cfg, "tools", calls=[c.name for c in ev.function_calls],
            outputs=[o.output if o is not None else None for o in ev.function_call_outputs]))
        session.on("agent_state_changed", lambda ev: report(cfg, "state", state=ev.new_state))
        session.on("error", lambda ev: report(cfg, "error", error=repr(ev.error)))
        session.on("close", lambda ev: report(
            cfg, "close", reason=str(ev.reason.value), agent=type(session.current_agent).__name__,
            history=[[i.type, getattr(i, "role", "") or getattr(i, "name", ""),
                      getattr(i, "text_content", None) or getattr(i, "output", None) or ""]
                     for i in session.history.items]))
        report(cfg, "session", providers={k: type(getattr(session, k)).__name__
                                          for k in ("vad", "stt", "llm", "tts")})
        return await opener(session, room, options)

    AgentSession.room_opener = watched


async def entrypoint(cfg: ExampleConfig, ctx: JobContext) -> None:
    os.environ.update(cfg.env)
    _watch_sessions(cfg)
    report(cfg, "job", room=ctx.job.room.name)
    try:
        await load(cfg.name).entrypoint(ctx)
    except Exception as e:
        report(cfg, "failed", error=repr(e))
        raise
    report(cfg, "entrypoint_returned")
