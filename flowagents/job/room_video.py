"""Room video: the linked participant's camera (or screen share), kept as the latest frame.

:class:`RoomVideoInput` reads the subscribed video track with ``rtc.VideoStream`` (capacity 1: the
SDK drops frames we have not looked at) and keeps a reference to the newest ``rtc.VideoFrame``,
with no copy of its pixels. A frame becomes an image only when the agent attaches one to a turn:
:meth:`RoomVideoInput.capture_image` converts and encodes it (JPEG by default, scaled to fit
``max_size``) off the loop and returns an :class:`~flowagents.llm.ImageContent` data URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable
from typing import Any, Literal

from flowagents.llm import ImageContent

__all__ = ["RoomVideoInput", "encode_frame"]

logger = logging.getLogger("flowagents.job")

ImageFormat = Literal["JPEG", "PNG"]


def _video_stream(track: Any) -> Any:
    from livekit import rtc

    return rtc.VideoStream(track, capacity=1)


def _kind_video() -> Any:
    from livekit import rtc

    return rtc.TrackKind.KIND_VIDEO


def encode_frame(frame: Any, *, fmt: ImageFormat = "JPEG", max_size: int = 1024,
                 quality: int = 80) -> bytes:
    """Encode an ``rtc.VideoFrame`` (any buffer type) as JPEG or PNG, scaled to fit ``max_size``."""
    from livekit import rtc
    from PIL import Image

    types = rtc.VideoBufferType
    if frame.type == types.RGB24:
        mode, raw = "RGB", "RGB"
    elif frame.type == types.RGBA:
        mode, raw = "RGBA", "RGBA"
    elif frame.type == types.BGRA:
        mode, raw = "RGBA", "BGRA"
    else:  # I420, NV12, ...: the SDK converts (one copy, only now)
        frame = frame.convert(types.RGBA)
        mode, raw = "RGBA", "RGBA"
    image = Image.frombuffer(mode, (frame.width, frame.height), bytes(frame.data), "raw", raw, 0, 1)
    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > max_size:
        image.thumbnail((max_size, max_size))
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, format="JPEG", quality=quality)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


class RoomVideoInput:
    """The latest video frame of the linked participant. Events: none."""

    def __init__(self, room: Any, *, participant_identity: str | None = None,
                 stream_factory: Callable[[Any], Any] = _video_stream) -> None:
        self._room = room
        self._identity = participant_identity
        self._stream_factory = stream_factory
        self._track: Any = None
        self._stream: Any = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._latest: Any = None
        self._latest_at: float | None = None
        self._closed = False
        room.on("track_subscribed", self._on_track)
        room.on("track_unsubscribed", self._on_untrack)
        self._scan()

    def link(self, identity: str) -> None:
        """Watch ``identity``'s video (no effect once a participant is linked)."""
        if self._identity is None:
            self._identity = identity
            self._scan()

    @property
    def latest_at(self) -> float | None:
        """Loop time at which :meth:`latest_frame` arrived."""
        return self._latest_at

    def latest_frame(self) -> Any:
        """The newest ``rtc.VideoFrame`` (the SDK's object, not a copy), or None."""
        return self._latest

    async def capture_image(self, *, fmt: ImageFormat = "JPEG", max_size: int = 1024,
                            quality: int = 80, detail: Literal["auto", "high", "low"] = "auto",
                            ) -> ImageContent | None:
        """The newest frame as an image for a chat message (encoded now, off the loop)."""
        frame = self._latest
        if frame is None:
            return None
        data = await asyncio.to_thread(encode_frame, frame, fmt=fmt, max_size=max_size,
                                       quality=quality)
        return ImageContent.from_bytes(data, mime_type=f"image/{fmt.lower()}", detail=detail)

    def _scan(self) -> None:
        for participant in list(getattr(self._room, "remote_participants", {}).values()):
            for pub in list(getattr(participant, "track_publications", {}).values()):
                if getattr(pub, "track", None) is not None:
                    self._on_track(pub.track, pub, participant)

    def _on_track(self, track: Any, _pub: Any, participant: Any) -> None:
        if self._closed or self._track is not None:
            return
        if getattr(track, "kind", None) != _kind_video() or self._identity is None:
            return
        if participant.identity != self._identity:
            return
        self._track = track
        self._stream = self._stream_factory(track)
        self._task = asyncio.create_task(self._read(self._stream), name="room-video-in")
        self._tasks.add(self._task)
        self._task.add_done_callback(self._tasks.discard)

    def _on_untrack(self, track: Any, _pub: Any, _participant: Any) -> None:
        if track is self._track:
            self._stop_task()

    def _stop_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = None
        self._track = None
        self._latest = None
        self._latest_at = None

    async def _read(self, stream: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for event in stream:
                self._latest = event.frame
                self._latest_at = loop.time()
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._room.off("track_subscribed", self._on_track)
        self._room.off("track_unsubscribed", self._on_untrack)
        self._stop_task()
        await asyncio.gather(*self._tasks, return_exceptions=True)
