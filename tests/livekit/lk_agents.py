"""Entrypoints the LiveKit tests run in real job processes, and how they report back.

Job processes import these by name, so they are module-level. A job is configured by an
:class:`AgentConfig` bound with ``functools.partial`` (picklable) and, for explicit dispatches,
by the job's metadata (JSON, merged over it). Every job appends JSON lines to
``<out_dir>/events.jsonl`` (one small ``write`` each, so lines from several processes do not
interleave): what the job saw, the session's events on the loop clock (``time.monotonic()``, the
same clock in every process of the machine, so the test can set them beside what its participant
measured), and the chat history when the session closes.

The voice agent hears the room for real (Silero VAD on the participant's WebRTC audio); the
STT, LLM and TTS are the testing kit's scripted fakes (the STT gives the script's transcript for
whatever speech the VAD found; the TTS voices a tone the participant can measure), or the
offline models with ``providers="local"``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flowagents.job import JobContext, JobProcess

QUESTION = "What is the weather in Tokyo?"
ANSWER = "It is sunny in Tokyo today, with a light breeze from the bay."
CHAT = "Tell me a joke."
CHAT_ANSWER = "Why did the frog cross the road? To get to the other pond."
GREETING = "Hello! How can I help you today?"
TONE_HZ = 440.0


class AgentConfig(BaseModel):
    """What a test asks of its agent (``mode``: ``probe`` or ``voice``)."""

    out_dir: str
    mode: str = "probe"
    providers: str = "scripted"  # or "local" (the offline models)
    greeting: bool = False
    answer_seconds: float = 2.0  # how long the scripted answer plays
    hold: float = 0.0  # a probe job keeps running this long after connecting (0: until shutdown)
    metadata: str = ""  # the job's raw metadata, filled in per job


def _report(cfg: AgentConfig, ctx: JobContext, kind: str, **fields: Any) -> None:
    line = json.dumps({"kind": kind, "t": time.monotonic(), "room": ctx.job.room.name,
                       "job": ctx.job.id, "pid": os.getpid(), **fields}) + "\n"
    fd = os.open(Path(cfg.out_dir) / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(out_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _config(base: AgentConfig, ctx: JobContext) -> AgentConfig:
    meta = ctx.job.metadata
    cfg = base.model_copy(update={"metadata": meta})
    if meta.startswith("{"):
        cfg = cfg.model_copy(update=json.loads(meta))
    return cfg


def prewarm(proc: JobProcess) -> None:
    """Load the Silero VAD once per process (what the voice agent listens with)."""
    from flowagents.plugins.silero import SileroVAD

    proc.userdata["vad"] = SileroVAD()


async def entrypoint(base: AgentConfig, ctx: JobContext) -> None:
    cfg = _config(base, ctx)
    _report(cfg, ctx, "job", agent_name=ctx.job.agent_name, metadata=ctx.job.metadata,
            identity=ctx.accept_arguments.identity, worker_id=ctx.worker_id)
    ctx.add_shutdown_callback(lambda reason: _on_shutdown(cfg, ctx, reason))
    await ctx.connect()
    _report(cfg, ctx, "connected", identity=ctx.room.local_participant.identity)
    if cfg.mode == "voice":
        await _voice(cfg, ctx)
    elif cfg.hold:
        await asyncio.sleep(cfg.hold)
        ctx.shutdown("held long enough")


async def _on_shutdown(cfg: AgentConfig, ctx: JobContext, reason: str) -> None:
    _report(cfg, ctx, "shutdown", reason=reason)


def _scripted(cfg: AgentConfig, vad: Any) -> dict[str, Any]:
    from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, Script

    script = Script()
    # one segment over all time: whatever speech the VAD hears is the question
    script.user_speech(start=0.0, end=1e9, transcript=QUESTION, stt_delay=0.05)
    script.llm_reply(input=QUESTION, content=ANSWER, ttft=0.05, duration=0.1)
    script.tts_audio(input=ANSWER, audio_duration=cfg.answer_seconds, ttfb=0.05, duration=0.1)
    script.llm_reply(input=CHAT, content=CHAT_ANSWER, ttft=0.05, duration=0.1)
    script.tts_audio(input=CHAT_ANSWER, audio_duration=1.5, ttfb=0.05, duration=0.1)
    script.tts_audio(input=GREETING, audio_duration=1.0, ttfb=0.05, duration=0.1)
    return {"vad": vad, "stt": FakeSTT(script, streaming=False), "llm": FakeLLM(script),
            "tts": FakeTTS(script, tone_hz=TONE_HZ)}


def _report_eou(cfg: AgentConfig, ctx: JobContext, metrics: Any) -> None:
    """The turn's end of speech on the session clock (committed - end-of-utterance delay)."""
    if type(metrics).__name__ == "EOUMetrics":
        _report(cfg, ctx, "eou", committed=metrics.timestamp,
                speech_end=metrics.timestamp - metrics.end_of_utterance_delay)


async def _voice(cfg: AgentConfig, ctx: JobContext) -> None:
    from flowagents.session import AgentSession
    from flowagents.voice import Agent

    if cfg.providers == "local":
        from flowagents.plugins.local import local_providers

        kwargs = local_providers().session_kwargs()
    else:
        kwargs = _scripted(cfg, ctx.proc.userdata["vad"])
    session = AgentSession(**kwargs)

    def on(name: str, fn: Any) -> None:
        session.on(name, fn)

    on("agent_state_changed", lambda ev: _report(cfg, ctx, "agent_state", state=ev.new_state))
    on("user_input_transcribed", lambda ev: _report(
        cfg, ctx, "user_transcript", text=ev.transcript, final=ev.is_final))
    on("conversation_item_added", lambda ev: _report(
        cfg, ctx, "item", role=getattr(ev.item, "role", ""),
        text=getattr(ev.item, "text_content", "") or "",
        interrupted=bool(getattr(ev.item, "interrupted", False))))
    on("metrics_collected", lambda ev: _report_eou(cfg, ctx, ev.metrics))
    on("close", lambda ev: _report(cfg, ctx, "close", reason=str(ev.reason.value), history=[
        {"role": getattr(i, "role", ""), "text": getattr(i, "text_content", "") or "",
         "interrupted": bool(getattr(i, "interrupted", False))}
        for i in session.history.items]))
    agent = Agent(instructions="You are a helpful voice assistant.")
    await session.start(agent=agent, room=ctx.room)
    _report(cfg, ctx, "session_started")
    if cfg.greeting:
        session.say(GREETING)
