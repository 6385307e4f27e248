"""Fakes of the livekit RTC SDK objects that room I/O touches: room, participants, tracks,
audio/video streams, audio source and text streams. Real ``rtc.AudioFrame``/``rtc.VideoFrame``
values flow through them (those are plain buffers); everything that would talk to the SFU is faked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc


@dataclass
class FakeParticipant:
    identity: str
    track_publications: dict[str, Any] = field(default_factory=dict)
    kind: Any = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    disconnect_reason: Any = rtc.DisconnectReason.CLIENT_INITIATED


@dataclass
class FakeTrack:
    kind: Any = rtc.TrackKind.KIND_AUDIO
    sid: str = "TR_mic"


class FakeWriter:
    def __init__(self, topic: str, attributes: dict[str, str]) -> None:
        self.topic, self.attributes, self.chunks = topic, attributes, []
        self.closed: dict[str, str] | None = None
        self.sender_identity: str | None = None

    async def write(self, text: str) -> None:
        self.chunks.append(text)

    async def aclose(self, *, reason: str = "", attributes: dict[str, str] | None = None) -> None:
        self.closed = attributes or {}


class FakeLocalParticipant:
    def __init__(self) -> None:
        self.writers: list[FakeWriter] = []
        self.attribute_updates: list[dict[str, str]] = []

    async def set_attributes(self, attributes: dict[str, str]) -> None:
        await asyncio.sleep(0)  # a server round trip
        self.attribute_updates.append(dict(attributes))

    async def stream_text(self, *, topic: str = "", attributes: dict[str, str] | None = None,
                          sender_identity: str | None = None, **_: Any) -> FakeWriter:
        w = FakeWriter(topic, attributes or {})
        w.sender_identity = sender_identity
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


class _QueuedStream:
    """An SDK stream fake: yields what the test puts on ``queue`` until ``None``."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self.closed = True


class FakeAudioStream(_QueuedStream):
    """Yields rtc.AudioFrameEvent-like objects pushed by the test."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels
        super().__init__()


@dataclass
class Event:
    frame: rtc.AudioFrame


def rtc_frame(value: int, rate: int = 16000, n: int = 320) -> rtc.AudioFrame:
    data = np.full(n, value, dtype=np.int16)
    return rtc.AudioFrame(data.tobytes(), rate, 1, n)


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




@dataclass
class FakeVideoTrack:
    sid: str = "TR_video"
    kind: Any = rtc.TrackKind.KIND_VIDEO


class FakeVideoStream(_QueuedStream):
    """Yields ``rtc.VideoFrameEvent``-like objects pushed by the test."""


@dataclass
class VideoEvent:
    frame: rtc.VideoFrame


class FakeReader:
    def __init__(self, text: str) -> None:
        self.text = text

    async def read_all(self) -> str:
        return self.text
