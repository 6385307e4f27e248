"""A test participant: a real client of the LiveKit server, through the ``livekit`` RTC SDK.

It joins a room with its own token, publishes a microphone track fed from WAV files (paced in
real time, with silence between clips), and records what the agent sends: its audio (every
frame with its arrival time on ``time.monotonic()`` and its RMS), the transcriptions on
``lk.transcription`` (who sent them, their segment ids and final text), and the agent's
``lk.agent.state`` attribute as it changes. It also sends text on ``lk.chat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from livekit import api, rtc

ROOT = Path(__file__).resolve().parents[2]
QUESTION_WAV = ROOT / "examples" / "audio" / "question.wav"
HELLO_WAV = ROOT / "examples" / "audio" / "hello.wav"

MIC_RATE = 16000
FRAME = 160  # 10 ms at 16 kHz
OUT_RATE = 24000
SPEECH_RMS = 300.0  # int16 RMS above which a received frame counts as audio


def token(key: str, secret: str, room: str, identity: str, *,
          dispatch: api.RoomAgentDispatch | None = None) -> str:
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True,
                             can_publish_data=True)
    tok = api.AccessToken(key, secret).with_identity(identity).with_grants(grants)
    if dispatch is not None:
        tok = tok.with_room_config(api.RoomConfiguration(agents=[dispatch]))
    return tok.to_jwt()


@dataclass(slots=True)
class Received:
    """One frame of the agent's audio as the participant got it."""

    t: float
    rms: float
    duration: float


@dataclass(slots=True)
class Transcription:
    sender: str
    segment_id: str
    text: str
    final: bool
    track_id: str
    t: float


@dataclass
class Participant:
    url: str
    key: str
    secret: str
    room_name: str
    identity: str = "user"
    room: rtc.Room = field(default_factory=rtc.Room)
    audio: list[Received] = field(default_factory=list)
    transcriptions: list[Transcription] = field(default_factory=list)
    agent_states: list[tuple[float, str]] = field(default_factory=list)
    joined_at: float = 0.0
    _source: rtc.AudioSource | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _agent_audio: asyncio.Event = field(default_factory=asyncio.Event)

    async def join(self, *, dispatch: api.RoomAgentDispatch | None = None,
                   publish: bool = True) -> None:
        room = self.room
        room.on("track_subscribed", self._on_track)
        room.on("participant_attributes_changed", self._on_attributes)
        room.on("participant_connected", self._on_participant)
        room.register_text_stream_handler("lk.transcription", self._on_text)
        self.joined_at = time.monotonic()
        await room.connect(self.url, token(self.key, self.secret, self.room_name, self.identity,
                                           dispatch=dispatch))
        for p in room.remote_participants.values():
            self._on_participant(p)
        if publish:
            self._source = rtc.AudioSource(MIC_RATE, 1)
            track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
            await room.local_participant.publish_track(
                track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
            self._spawn(self._silence_until_closed())

    # -- sending -------------------------------------------------------------------------------

    async def _silence_until_closed(self) -> None:
        """A microphone sends all the time: silence between the clips."""
        self._speaking = False
        zeros = np.zeros(FRAME, np.int16)
        next_at = time.monotonic()
        while True:
            if not self._speaking:
                await self._capture(zeros)
            next_at += FRAME / MIC_RATE
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _capture(self, pcm: np.ndarray) -> None:
        assert self._source is not None
        await self._source.capture_frame(rtc.AudioFrame(pcm.tobytes(), MIC_RATE, 1, pcm.size))

    async def say(self, wav: Path) -> tuple[float, float]:
        """Play ``wav`` into the microphone in real time; return when its speech started and
        ended (``time.monotonic()``, from the clip's own samples: first and last loud frame)."""
        pcm, rate = sf.read(wav, dtype="int16")
        assert rate == MIC_RATE, rate
        loud = [i for i in range(0, len(pcm) - FRAME + 1, FRAME)
                if float(np.sqrt(np.mean(pcm[i:i + FRAME].astype(np.float64) ** 2))) > 500]
        self._speaking = True
        start = time.monotonic()
        try:
            for k, i in enumerate(range(0, len(pcm) - FRAME + 1, FRAME)):
                await self._capture(pcm[i:i + FRAME])
                await asyncio.sleep(max(0.0, start + (k + 1) * FRAME / MIC_RATE
                                        - time.monotonic()))
        finally:
            self._speaking = False
        return start + loud[0] / MIC_RATE, start + (loud[-1] + FRAME) / MIC_RATE

    async def send_chat(self, text: str) -> None:
        await self.room.local_participant.send_text(text, topic="lk.chat")

    # -- receiving -----------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_participant(self, p: rtc.RemoteParticipant) -> None:
        state = p.attributes.get("lk.agent.state")
        if state:
            self.agent_states.append((time.monotonic(), state))

    def _on_track(self, track: rtc.Track, _pub: Any, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._spawn(self._read_audio(track))

    async def _read_audio(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=OUT_RATE, num_channels=1)
        try:
            async for ev in stream:
                data = np.frombuffer(ev.frame.data, dtype=np.int16)
                rms = float(np.sqrt(np.mean(data.astype(np.float64) ** 2))) if data.size else 0.0
                self.audio.append(Received(time.monotonic(), rms, data.size / OUT_RATE))
                if rms > SPEECH_RMS:
                    self._agent_audio.set()
        finally:
            await stream.aclose()

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if "lk.agent.state" in changed:
            self.agent_states.append((time.monotonic(), changed["lk.agent.state"]))

    def _on_text(self, reader: rtc.TextStreamReader, sender: str) -> None:
        self._spawn(self._read_text(reader, sender))

    async def _read_text(self, reader: rtc.TextStreamReader, sender: str) -> None:
        text = await reader.read_all()
        attrs = reader.info.attributes or {}
        self.transcriptions.append(Transcription(
            sender, attrs.get("lk.segment_id", ""), text,
            attrs.get("lk.transcription_final") == "true",
            attrs.get("lk.transcribed_track_id", ""), time.monotonic()))

    # -- reading what was received -------------------------------------------------------------

    async def wait_for_agent_audio(self, within: float) -> float:
        await asyncio.wait_for(self._agent_audio.wait(), within)
        return self.first_audio_after(0.0)

    def first_audio_after(self, t: float) -> float:
        return next(r.t for r in self.audio if r.t >= t and r.rms > SPEECH_RMS)

    def audible_seconds(self, start: float = 0.0, end: float = float("inf")) -> float:
        return sum(r.duration for r in self.audio if start <= r.t < end and r.rms > SPEECH_RMS)

    def quiet_from(self, t: float, *, quiet: float) -> float | None:
        """The first time after ``t`` from which ``quiet`` seconds pass without agent audio."""
        frames = [r for r in self.audio if r.t >= t]
        run_start: float | None = None
        for r in frames:
            if r.rms > SPEECH_RMS:
                run_start = None
            else:
                if run_start is None:
                    run_start = r.t
                if r.t - run_start >= quiet:
                    return run_start
        return None

    async def wait_for(self, predicate: Any, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def leave(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.room.disconnect()
        if self._source is not None:
            with contextlib.suppress(Exception):
                await self._source.aclose()
