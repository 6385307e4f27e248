"""Room I/O up to the RTC SDK boundary, with fake room, tracks, sources and text streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc

from flowagents.job.room_io import (
    TOPIC_CHAT,
    TOPIC_TRANSCRIPTION,
    RoomAudioInput,
    RoomAudioOutput,
    RoomChatInput,
    RoomTextOutput,
)
from flowagents.types import AudioFrame
from flowagents.voice.io import TranscriptionSegment


@dataclass
class FakeParticipant:
    identity: str
    track_publications: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeTrack:
    kind: Any = rtc.TrackKind.KIND_AUDIO


class FakeWriter:
    def __init__(self, topic: str, attributes: dict[str, str]) -> None:
        self.topic, self.attributes, self.chunks, self.closed = topic, attributes, [], None

    async def write(self, text: str) -> None:
        self.chunks.append(text)

    async def aclose(self, *, reason: str = "", attributes: dict[str, str] | None = None) -> None:
        self.closed = attributes or {}


class FakeLocalParticipant:
    def __init__(self) -> None:
        self.writers: list[FakeWriter] = []

    async def stream_text(self, *, topic: str = "", attributes: dict[str, str] | None = None,
                          **_: Any) -> FakeWriter:
        w = FakeWriter(topic, attributes or {})
        self.writers.append(w)
        return w


class FakeRoom:
    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., None]]] = {}
        self.remote_participants: dict[str, FakeParticipant] = {}
        self.local_participant = FakeLocalParticipant()
        self.text_handlers: dict[str, Callable[..., None]] = {}

    def on(self, event: str, fn: Callable[..., None]) -> None:
        self.handlers.setdefault(event, []).append(fn)

    def off(self, event: str, fn: Callable[..., None]) -> None:
        self.handlers[event].remove(fn)

    def emit(self, event: str, *args: Any) -> None:
        for fn in list(self.handlers.get(event, [])):
            fn(*args)

    def register_text_stream_handler(self, topic: str, fn: Callable[..., None]) -> None:
        self.text_handlers[topic] = fn

    def unregister_text_stream_handler(self, topic: str) -> None:
        del self.text_handlers[topic]


class FakeAudioStream:
    """Yields rtc.AudioFrameEvent-like objects pushed by the test."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> FakeAudioStream:
        return self

    async def __anext__(self) -> Any:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Event:
    frame: rtc.AudioFrame


def rtc_frame(value: int, rate: int = 16000, n: int = 320) -> rtc.AudioFrame:
    data = np.full(n, value, dtype=np.int16)
    return rtc.AudioFrame(data.tobytes(), rate, 1, n)


async def test_audio_input_reads_linked_participant_until_they_leave() -> None:
    room = FakeRoom()
    streams: list[FakeAudioStream] = []

    def factory(track: Any, rate: int, channels: int) -> FakeAudioStream:
        streams.append(FakeAudioStream(rate, channels))
        return streams[-1]

    audio_in = RoomAudioInput(room, participant_identity="user", sample_rate=16000,
                              stream_factory=factory)
    got: list[AudioFrame] = []

    async def read() -> None:
        async for frame in audio_in:
            got.append(frame)

    reader = asyncio.create_task(read())
    room.emit("track_subscribed", FakeTrack(), None, FakeParticipant("someone-else"))
    room.emit("track_subscribed", FakeTrack(), None, FakeParticipant("user"))
    await asyncio.sleep(0.01)
    assert len(streams) == 1
    assert streams[0].rate == 16000
    for v in (1, 2):
        streams[0].queue.put_nowait(Event(rtc_frame(v)))
    await asyncio.sleep(0.01)
    room.emit("participant_disconnected", FakeParticipant("user"))
    await asyncio.wait_for(reader, 1)
    assert [int(f.data[0]) for f in got] == [1, 2]
    assert got[0].sample_rate == 16000
    await audio_in.aclose()
    assert streams[0].closed


class FakeSource:
    def __init__(self) -> None:
        self.frames: list[rtc.AudioFrame] = []
        self.cleared = 0
        self.closed = False

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        self.frames.append(frame)

    def clear_queue(self) -> None:
        self.cleared += 1

    async def aclose(self) -> None:
        self.closed = True


def frame(v: int) -> AudioFrame:
    return AudioFrame(np.full(240, v, dtype=np.int16), 24000)


async def test_audio_output_publishes_and_pause_withholds_until_resume() -> None:
    source = FakeSource()
    published: list[Any] = []

    async def publish(room: Any, src: Any) -> str:
        published.append(src)
        return "pub"

    out = RoomAudioOutput(FakeRoom(), source_factory=lambda r, c: source, publish=publish)
    events: list[str] = []
    for name in ("paused", "resumed", "cleared"):
        out.on(name, lambda n=name: events.append(n))
    await out.start()
    assert published == [source]
    out.capture(frame(1))
    await asyncio.sleep(0.01)
    out.pause()
    out.capture(frame(2))
    out.capture(frame(3))
    await asyncio.sleep(0.01)
    assert [np.frombuffer(f.data, np.int16)[0] for f in source.frames] == [1]
    out.resume()
    await asyncio.sleep(0.01)
    assert [np.frombuffer(f.data, np.int16)[0] for f in source.frames] == [1, 2, 3]
    out.pause()
    out.capture(frame(4))
    out.clear()
    out.resume()
    await asyncio.sleep(0.01)
    assert len(source.frames) == 3
    assert source.cleared == 1
    assert events == ["paused", "resumed", "paused", "cleared", "resumed"]
    await out.aclose()
    assert source.closed


async def test_transcriptions_go_out_on_lk_transcription_one_stream_per_segment() -> None:
    room = FakeRoom()
    out = RoomTextOutput(room, track_id="TR_1")
    out.capture(TranscriptionSegment(id="s1", text="Hello", participant="agent"))
    out.capture(TranscriptionSegment(id="s1", text=" world", participant="agent", final=True))
    out.capture(TranscriptionSegment(id="s2", text="Hi", participant="user"))
    await asyncio.sleep(0.01)
    w1, w2 = room.local_participant.writers
    assert w1.topic == TOPIC_TRANSCRIPTION
    assert w1.attributes["lk.segment_id"] == "s1"
    assert w1.attributes["lk.transcribed_track_id"] == "TR_1"
    assert w1.chunks == ["Hello", " world"]
    assert w1.closed == {"lk.transcription_final": "true"}
    assert w2.closed is None
    await out.aclose()
    assert w2.closed == {}


async def test_chat_input_delivers_lk_chat_text() -> None:
    room = FakeRoom()
    got: list[tuple[str, str]] = []
    chat = RoomChatInput(room, lambda text, who: got.append((text, who)))

    class Reader:
        async def read_all(self) -> str:
            return "hello agent"

    room.text_handlers[TOPIC_CHAT](Reader(), "user")
    await asyncio.sleep(0.01)
    assert got == [("hello agent", "user")]
    await chat.aclose()
    assert TOPIC_CHAT not in room.text_handlers
