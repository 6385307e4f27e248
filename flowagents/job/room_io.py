"""Room I/O: a voice session's audio and text, wired to a LiveKit room through the RTC SDK.

- :class:`RoomAudioInput`: the linked participant's microphone as our ``AudioFrame``s, read with
  ``rtc.AudioStream`` at the graph's rate; it ends when that participant leaves.
- :class:`RoomAudioOutput`: the agent's audio published as a local track fed by
  ``rtc.AudioSource``; ``pause()`` withholds frames (kept for ``resume()``), ``clear()`` drops them.
- :class:`RoomTextOutput`: transcriptions on the ``lk.transcription`` text stream, one stream per
  segment (attributes ``lk.segment_id``, ``lk.transcription_final``).
- :class:`RoomChatInput`: user text from ``lk.chat`` text streams.

These implement :mod:`flowagents.voice.io`. The SDK objects come through small factories so tests
can run everything up to the SDK boundary with fakes. Every sender runs in one owned task per
object, so ``capture()`` never blocks the graph and ``aclose()`` cancels everything.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from flowagents.types import AudioFrame
from flowagents.voice.io import AudioInput, AudioOutput, TextOutput, TranscriptionSegment

__all__ = ["RoomAudioInput", "RoomAudioOutput", "RoomChatInput", "RoomTextOutput",
           "TOPIC_CHAT", "TOPIC_TRANSCRIPTION"]

logger = logging.getLogger("flowagents.job")

TOPIC_TRANSCRIPTION = "lk.transcription"
TOPIC_CHAT = "lk.chat"

_CLOSE = object()


def _audio_stream(track: Any, sample_rate: int, num_channels: int) -> Any:
    from livekit import rtc

    return rtc.AudioStream(track, sample_rate=sample_rate, num_channels=num_channels)


class RoomAudioInput(AudioInput):
    """The linked participant's microphone. Events: none; ending the iteration means they left."""

    def __init__(self, room: Any, *, participant_identity: str | None = None,
                 sample_rate: int = 16000, num_channels: int = 1,
                 stream_factory: Callable[[Any, int, int], Any] = _audio_stream) -> None:
        self._room = room
        self._identity = participant_identity
        self._rate = sample_rate
        self._channels = num_channels
        self._stream_factory = stream_factory
        self._track: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._left = asyncio.Event()
        self._stream: Any = None
        room.on("track_subscribed", self._on_track)
        room.on("participant_disconnected", self._on_left)
        for participant in list(getattr(room, "remote_participants", {}).values()):
            for pub in list(getattr(participant, "track_publications", {}).values()):
                if getattr(pub, "track", None) is not None:
                    self._on_track(pub.track, pub, participant)

    @property
    def participant_identity(self) -> str | None:
        return self._identity

    def _on_track(self, track: Any, _pub: Any, participant: Any) -> None:
        if self._track.done() or getattr(track, "kind", None) != _kind_audio():
            return
        if self._identity is None:
            self._identity = participant.identity
        if participant.identity == self._identity:
            self._track.set_result(track)

    def _on_left(self, participant: Any) -> None:
        if participant.identity == self._identity:
            self._left.set()

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        left = asyncio.ensure_future(self._left.wait())
        try:
            await asyncio.wait([self._track, left], return_when=asyncio.FIRST_COMPLETED)
            if not self._track.done():
                return
            self._stream = self._stream_factory(self._track.result(), self._rate, self._channels)
            loop = asyncio.get_running_loop()
            events = aiter(self._stream)
            while not self._left.is_set():
                nxt = asyncio.ensure_future(anext(events))
                await asyncio.wait([nxt, left], return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    await asyncio.gather(nxt, return_exceptions=True)
                    return
                try:
                    event = nxt.result()
                except StopAsyncIteration:
                    return
                yield AudioFrame.from_rtc(event.frame, timestamp=loop.time())
        finally:
            left.cancel()
            await asyncio.gather(left, return_exceptions=True)

    async def aclose(self) -> None:
        self._left.set()
        self._room.off("track_subscribed", self._on_track)
        self._room.off("participant_disconnected", self._on_left)
        if self._stream is not None:
            await self._stream.aclose()


def _kind_audio() -> Any:
    from livekit import rtc

    return rtc.TrackKind.KIND_AUDIO


def _audio_source(sample_rate: int, num_channels: int) -> Any:
    from livekit import rtc

    return rtc.AudioSource(sample_rate, num_channels)


async def _publish(room: Any, source: Any) -> Any:
    from livekit import rtc

    track = rtc.LocalAudioTrack.create_audio_track("agent_audio", source)
    opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    return await room.local_participant.publish_track(track, opts)


class RoomAudioOutput(AudioOutput):
    """The agent's audio track.

    Events (``on``): ``paused``, ``resumed``, ``cleared``, ``flushed``.
    """

    can_pause = True

    def __init__(self, room: Any, *, sample_rate: int = 24000, num_channels: int = 1,
                 source_factory: Callable[[int, int], Any] = _audio_source,
                 publish: Callable[[Any, Any], Any] = _publish) -> None:
        self.sample_rate = sample_rate
        self._room = room
        self._source = source_factory(sample_rate, num_channels)
        self._publish = publish
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._held: collections.deque[AudioFrame] = collections.deque()
        self._paused = False
        self._task: asyncio.Task[None] | None = None
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self.publication: Any = None

    def on(self, event: str, fn: Callable[[], None]) -> None:
        self._listeners.setdefault(event, []).append(fn)

    def _emit(self, event: str) -> None:
        for fn in self._listeners.get(event, []):
            fn()

    async def start(self) -> None:
        """Publish the track and start forwarding frames to it."""
        self.publication = await self._publish(self._room, self._source)
        self._task = asyncio.create_task(self._forward(), name="room-audio-out")

    @property
    def paused(self) -> bool:
        return self._paused

    def capture(self, frame: AudioFrame) -> None:
        if self._paused:
            self._held.append(frame)
        else:
            self._queue.put_nowait(frame)

    def pause(self) -> None:
        """Withhold frames (a possible false interruption); they are kept for :meth:`resume`."""
        if not self._paused:
            self._paused = True
            self._emit("paused")

    def resume(self) -> None:
        """Send the withheld frames and carry on."""
        if self._paused:
            self._paused = False
            while self._held:
                self._queue.put_nowait(self._held.popleft())
            self._emit("resumed")

    def clear(self) -> None:
        self._held.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._source.clear_queue()
        self._emit("cleared")

    def flush(self) -> None:
        self._emit("flushed")

    async def _forward(self) -> None:
        while True:
            frame = await self._queue.get()
            if frame is _CLOSE:
                return
            await self._source.capture_frame(frame.to_rtc())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._source.aclose()


class RoomTextOutput(TextOutput):
    """Transcriptions on ``lk.transcription``: one text stream per segment, closed when final."""

    def __init__(self, room: Any, *, track_id: str = "") -> None:
        self._room = room
        self._track_id = track_id
        self._queue: asyncio.Queue[TranscriptionSegment] = asyncio.Queue()
        self._writers: dict[str, Any] = {}
        self._task = asyncio.create_task(self._send(), name="room-text-out")

    def capture(self, segment: TranscriptionSegment) -> None:
        self._queue.put_nowait(segment)

    async def _send(self) -> None:
        while True:
            seg = await self._queue.get()
            try:
                writer = self._writers.get(seg.id)
                if writer is None:
                    attrs = {"lk.segment_id": seg.id, "lk.transcription_final": "false"}
                    if self._track_id:
                        attrs["lk.transcribed_track_id"] = self._track_id
                    writer = await self._room.local_participant.stream_text(
                        topic=TOPIC_TRANSCRIPTION, attributes=attrs)
                    self._writers[seg.id] = writer
                if seg.text:
                    await writer.write(seg.text)
                if seg.final:
                    del self._writers[seg.id]
                    await writer.aclose(attributes={"lk.transcription_final": "true"})
            except Exception:
                logger.exception("failed to send a transcription", extra={"segment_id": seg.id})

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                await writer.aclose()
        self._writers.clear()


class RoomChatInput:
    """User text from ``lk.chat``; ``on_text(text, participant_identity)`` is called per message."""

    def __init__(self, room: Any, on_text: Callable[[str, str], None]) -> None:
        self._on_text = on_text
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler(TOPIC_CHAT, self._on_stream)
        self._room = room

    def _on_stream(self, reader: Any, participant_identity: str) -> None:
        task = asyncio.create_task(self._read(reader, participant_identity), name="room-chat-in")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, reader: Any, identity: str) -> None:
        text = await reader.read_all()
        self._on_text(text, identity)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            self._room.unregister_text_stream_handler(TOPIC_CHAT)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
