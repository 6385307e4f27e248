"""The LiveKit examples in a job process of the protocol-level stand-in: the fake server dispatches
the job, and the room is the RTC fakes of ``rtc_fakes`` with a scripted user in it.

The job's metadata (JSON) names the example and what the user does, in order: ``{"chat":
text}`` sends ``text`` on ``lk.chat``, ``{"say": path}`` plays a WAV file into the microphone in
real time (10 ms frames, silence around it), each once the agent is listening again. Then the
user leaves, which ends the session and the job. The example file runs unchanged: its providers
are pointed at the test's local servers through the environment, and the room's SDK objects
(the user's audio stream, the agent's audio source and track) come in through the room opener's
factories. Everything the user sees (transcriptions, the agent's audio) and what the session did
(items, tool rounds, the history at close) goes to ``<out>/events.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from livekit import rtc
from rtc_fakes import FakeParticipant, FakeReader, FakeRoom, FakeSource, FakeTrack

from flowagents.job import JobContext, JobProcess

ROOT = Path(__file__).resolve().parents[2]
FRAME = 160  # 10 ms at 16 kHz


def _meta(ctx_or_none: JobContext | None = None) -> dict[str, Any]:
    return json.loads(ctx_or_none.job.metadata) if ctx_or_none is not None else {}


def report(out: str, kind: str, **fields: Any) -> None:
    line = json.dumps({"kind": kind, "t": time.monotonic(), **fields}) + "\n"
    fd = os.open(Path(out) / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(out: str | Path) -> list[dict[str, Any]]:
    path = Path(out) / "events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class Microphone:
    """The user's microphone as the SDK's audio stream: silence, or a clip being played."""

    def __init__(self) -> None:
        self.clips: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> Microphone:
        self._clip: np.ndarray | None = None
        self._pos = 0
        self._next = time.monotonic()
        return self

    async def __anext__(self) -> Any:
        if self.closed:
            raise StopAsyncIteration
        self._next += FRAME / 16000
        await asyncio.sleep(max(0.0, self._next - time.monotonic()))
        if self._clip is None and not self.clips.empty():
            self._clip, self._pos = self.clips.get_nowait(), 0
        if self._clip is not None:
            pcm = self._clip[self._pos:self._pos + FRAME]
            self._pos += FRAME
            if self._pos >= len(self._clip):
                self._clip = None
            pcm = np.pad(pcm, (0, FRAME - len(pcm)))
        else:
            pcm = np.zeros(FRAME, np.int16)
        return type("Ev", (), {"frame": rtc.AudioFrame(pcm.tobytes(), 16000, 1, FRAME)})()

    async def aclose(self) -> None:
        self.closed = True


class StandInRoom(FakeRoom):
    """The job's room: ``connect`` joins nothing; the user is already in it."""

    def __init__(self) -> None:
        super().__init__()
        self.user = FakeParticipant("user")
        self.remote_participants["user"] = self.user
        self.connected = False

    async def connect(self, url: str, token: str, options: Any = None) -> None:
        self.connected = True

    def isconnected(self) -> bool:
        return self.connected

    async def disconnect(self) -> None:
        self.connected = False


def prewarm(proc: JobProcess) -> None:
    """Nothing to do before the job: the example's own prewarm runs in the entrypoint, once
    the job's metadata says which example it is."""


async def entrypoint(ctx: JobContext) -> None:
    from flowagents.session import AgentSession

    meta = _meta(ctx)
    out = meta["out"]
    os.environ.update(meta.get("env", {}))
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"wk_example_{meta['example']}", ROOT / "examples" / "livekit" / f"{meta['example']}.py")
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    if hasattr(example, "prewarm"):
        example.prewarm(ctx.proc)
    room = StandInRoom()
    ctx._room = room  # type: ignore[assignment]
    mic = Microphone()
    source = FakeSource()
    sessions: list[AgentSession] = []
    opener = AgentSession.room_opener
    assert opener is not None

    async def publish(_room: Any, _source: Any) -> Any:
        return FakeTrack(sid="TR_agent")

    async def stand_in(session: AgentSession, r: Any, options: Any) -> Any:
        sessions.append(session)
        session.on("conversation_item_added", lambda ev: report(
            out, "item", role=ev.item.role, text=ev.item.text_content or "",
            agent=type(session.current_agent).__name__))
        session.on("function_tools_executed", lambda ev: report(
            out, "tools", calls=[c.name for c in ev.function_calls],
            outputs=[o.output if o is not None else None for o in ev.function_call_outputs]))
        session.on("error", lambda ev: report(out, "error", error=repr(ev.error)))
        session.on("close", lambda ev: report(
            out, "close", agent=type(session.current_agent).__name__,
            history=[[i.type, getattr(i, "role", "") or getattr(i, "name", "")]
                     for i in session.history.items]))
        link = await opener(session, r, {**options, "video": False,
                                         "audio_stream_factory": lambda t, rate, ch: mic,
                                         "source_factory": lambda rate, ch: source,
                                         "publish": publish})
        room.emit("track_subscribed", FakeTrack(sid="TR_user"), None, room.user)
        return link

    AgentSession.room_opener = stand_in
    await example.entrypoint(ctx)
    report(out, "started", connected=room.connected)
    user = asyncio.create_task(_user(room, mic, sessions, meta["script"]))
    try:
        await asyncio.wait_for(user, meta.get("within", 30))
    finally:
        text = [{"sender": w.sender_identity, "segment": w.attributes.get("lk.segment_id"),
                 "text": "".join(w.chunks), "final": (w.closed or {}).get(
                     "lk.transcription_final") == "true"}
                for w in room.local_participant.writers]
        audio = sum(f.samples_per_channel / f.sample_rate for f in source.frames)
        report(out, "room", transcriptions=text, agent_audio=round(audio, 3))
        room.emit("participant_disconnected", room.user)
        await ctx.wait_for_shutdown()


async def _user(room: StandInRoom, mic: Microphone, sessions: list[Any],
                script: list[dict[str, str]]) -> None:
    """The user's turns, each once the agent has answered the last one."""
    session = sessions[0]
    for step in script:
        await _settled(session)
        replies = _assistant_items(session)
        if "chat" in step:
            room.text_handlers["lk.chat"](FakeReader(step["chat"]), "user")
        else:
            pcm, rate = sf.read(ROOT / step["say"], dtype="int16")
            assert rate == 16000
            mic.clips.put_nowait(np.asarray(pcm))
        while _assistant_items(session) <= replies:  # noqa: ASYNC110 - history, no event
            await asyncio.sleep(0.05)
    await _settled(session)


def _assistant_items(session: Any) -> int:
    return sum(1 for i in session.history.items
               if i.type == "message" and i.role == "assistant")


async def _settled(session: Any) -> None:
    """The agent is listening and nothing is queued, for 0.3 s."""
    quiet_since: float | None = None
    while True:
        quiet = (session.agent_state in ("listening", "initializing")
                 and session.current_speech is None)
        now = time.monotonic()
        if not quiet:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= 0.3:
            return
        await asyncio.sleep(0.05)
