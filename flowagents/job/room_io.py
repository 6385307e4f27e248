"""Room I/O: a voice session's audio and text, wired to a LiveKit room through the RTC SDK.

- :class:`RoomAudioInput`: the linked participant's microphone as our ``AudioFrame``s, read with
  ``rtc.AudioStream`` at the graph's rate; it ends when that participant leaves.
- :class:`RoomAudioOutput`: the agent's audio published as a local track fed by
  ``rtc.AudioSource``; ``pause()`` withholds frames (kept for ``resume()``), ``clear()`` drops them.
- :class:`RoomTextOutput`: transcriptions on the ``lk.transcription`` text stream, one stream per
  segment (attributes ``lk.segment_id``, ``lk.transcription_final``).
- :class:`RoomChatInput`: user text from ``lk.chat`` text streams.
- :class:`AgentStateAttribute`: the session's agent state as the agent participant's
  ``lk.agent.state`` attribute (what LiveKit's clients show: listening, thinking, speaking).
- :class:`RoomIO` and :func:`room_session_io`: all of the above (and the linked participant's
  camera, :mod:`flowagents.job.room_video`) as one :class:`SessionIO`, plus the end of the session
  when the linked participant leaves or the room disconnects.

These implement :mod:`flowagents.voice.io`. The SDK objects come through small factories so tests
can run everything up to the SDK boundary with fakes. Every sender runs in one owned task per
object, so ``capture()`` never blocks the graph and ``aclose()`` cancels everything.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from flowagents.session import AgentSession
from flowagents.types import AudioFrame
from flowagents.voice.io import (
    AudioInput,
    AudioOutput,
    SessionIO,
    TextOutput,
    TranscriptionSegment,
    VideoInput,
)

if TYPE_CHECKING:
    from flowagents.llm import ImageContent

__all__ = ["ATTRIBUTE_AGENT_STATE", "TOPIC_CHAT", "TOPIC_TRANSCRIPTION", "AgentStateAttribute",
           "RoomAudioInput", "RoomAudioOutput", "RoomChatInput", "RoomIO", "RoomTextOutput",
           "open_session_room", "room_session_io"]

logger = logging.getLogger("flowagents.job")

TOPIC_TRANSCRIPTION = "lk.transcription"
TOPIC_CHAT = "lk.chat"
ATTRIBUTE_AGENT_STATE = "lk.agent.state"

_CLOSE = object()


def _audio_stream(track: Any, sample_rate: int, num_channels: int) -> Any:
    from livekit import rtc

    return rtc.AudioStream(track, sample_rate=sample_rate, num_channels=num_channels)


def _is_agent(participant: Any) -> bool:
    from livekit import rtc

    return bool(getattr(participant, "kind", None) == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)


class RoomAudioInput(AudioInput):
    """The linked participant's microphone. Events: none; ending the iteration means they left.

    Without ``participant_identity`` the first non-agent participant whose audio track is
    subscribed is linked (or whoever :meth:`link` names first).
    """

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
        self._reader: asyncio.Future[None] | None = None  # the stream's reader, when pushing
        self._closed = False
        self.track_sid = ""
        room.on("track_subscribed", self._on_track)
        room.on("participant_disconnected", self._on_left)
        self._scan()

    @property
    def participant_identity(self) -> str | None:
        return self._identity

    def link(self, identity: str) -> None:
        """Read ``identity``'s microphone (no effect once a participant is linked)."""
        if self._identity is None:
            self._identity = identity
            self._scan()

    def _scan(self) -> None:
        for participant in list(getattr(self._room, "remote_participants", {}).values()):
            for pub in list(getattr(participant, "track_publications", {}).values()):
                if getattr(pub, "track", None) is not None:
                    self._on_track(pub.track, pub, participant)

    def _on_track(self, track: Any, _pub: Any, participant: Any) -> None:
        if self._track.done() or getattr(track, "kind", None) != _kind_audio():
            return
        if self._identity is None and not _is_agent(participant):
            self._identity = participant.identity
        if participant.identity == self._identity:
            self.track_sid = str(getattr(track, "sid", "") or "")
            self._track.set_result(track)

    def _on_left(self, participant: Any) -> None:
        if participant.identity == self._identity:
            self._left.set()

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        left = asyncio.ensure_future(self._left.wait())
        nxt: asyncio.Future[Any] | None = None
        try:
            await asyncio.wait([self._track, left], return_when=asyncio.FIRST_COMPLETED)
            if not self._track.done() or self._left.is_set():
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
            # a reader that stops iterating (cancelled) leaves the pending read behind: end it
            # here, or its StopAsyncIteration goes unretrieved when the stream closes
            pending = [f for f in (left, nxt) if f is not None]
            for f in pending:
                f.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def push_to(self, on_frame: Callable[[AudioFrame], None],
                on_end: Callable[[BaseException | None], None]) -> Callable[[], None]:
        """Push each frame from one owned task. Iterating must race every frame against the
        participant leaving (a task and a wait per frame, every 10-20 ms of every session);
        pushing races the whole stream once."""
        task = asyncio.get_running_loop().create_task(self._push(on_frame, on_end))

        def stop() -> None:  # at once: not even a frame the stream has already handed over
            task.cancel()
            if self._reader is not None:
                self._reader.cancel()

        return stop

    async def _push(self, on_frame: Callable[[AudioFrame], None],
                    on_end: Callable[[BaseException | None], None]) -> None:
        left = asyncio.ensure_future(self._left.wait())
        try:
            await asyncio.wait([self._track, left], return_when=asyncio.FIRST_COMPLETED)
            if self._track.done() and not self._left.is_set():
                self._stream = self._stream_factory(self._track.result(), self._rate,
                                                    self._channels)
                reader = self._reader = asyncio.ensure_future(_read(self._stream, on_frame))
                await asyncio.wait([reader, left], return_when=asyncio.FIRST_COMPLETED)
                if reader.done():
                    reader.result()  # the stream's error, or on_frame's
        except Exception as exc:  # noqa: BLE001 - handed to on_end, as the contract says
            on_end(exc)
            return
        finally:
            waiting = [f for f in (left, self._reader) if f is not None and not f.done()]
            for future in waiting:
                future.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
        on_end(None)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._left.set()
        self._room.off("track_subscribed", self._on_track)
        self._room.off("participant_disconnected", self._on_left)
        if self._stream is not None:
            await self._stream.aclose()


async def _read(stream: Any, on_frame: Callable[[AudioFrame], None]) -> None:
    loop = asyncio.get_running_loop()
    async for event in stream:
        on_frame(AudioFrame.from_rtc(event.frame, timestamp=loop.time()))


def _kind_audio() -> Any:
    from livekit import rtc

    return rtc.TrackKind.KIND_AUDIO


def _resampler(input_rate: int, output_rate: int, num_channels: int) -> Any:
    from livekit import rtc

    return rtc.AudioResampler(input_rate, output_rate, num_channels=num_channels)


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
                 publish: Callable[[Any, Any], Any] = _publish,
                 resampler_factory: Callable[[int, int, int], Any] = _resampler) -> None:
        self.sample_rate = sample_rate
        self._rate = sample_rate
        self._channels = num_channels
        self._room = room
        self._source = source_factory(sample_rate, num_channels)
        self._publish = publish
        self._resampler_factory = resampler_factory
        self._resampler: Any = None
        self._resampler_rate = 0
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._held: collections.deque[AudioFrame] = collections.deque()
        self._paused = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self.publication: Any = None

    @property
    def track_sid(self) -> str:
        return str(getattr(self.publication, "sid", "") or "")

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
        self._resampler = None  # drop the samples it buffered
        self._source.clear_queue()
        self._emit("cleared")

    def flush(self) -> None:
        self._emit("flushed")

    async def _forward(self) -> None:
        while True:
            frame = await self._queue.get()
            if frame is _CLOSE:
                return
            for out in self._to_track_rate(frame):
                await self._source.capture_frame(out)

    def _to_track_rate(self, frame: AudioFrame) -> list[Any]:
        """The frame at the track's rate (a TTS may speak at another rate than the track)."""
        if frame.sample_rate == self._rate:
            return [frame.to_rtc()]
        if self._resampler is None or self._resampler_rate != frame.sample_rate:
            self._resampler = self._resampler_factory(frame.sample_rate, self._rate,
                                                      self._channels)
            self._resampler_rate = frame.sample_rate
        return list(self._resampler.push(frame.to_rtc()))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._source.aclose()


class RoomTextOutput(TextOutput):
    """Transcriptions on ``lk.transcription``: one text stream per agent segment (its text in
    deltas), closed when final; each update of a user transcript (the whole text so far) as a
    stream of its own.

    ``sender(segment)`` gives the stream's ``(sender_identity, transcribed_track_id)``: the user's
    transcripts are sent on the user's behalf for their microphone track, the agent's for its own.
    """

    def __init__(self, room: Any, *, track_id: str = "",
                 sender: Callable[[TranscriptionSegment], tuple[str | None, str]] | None = None,
                 ) -> None:
        self._room = room
        self._sender = sender or (lambda _seg: (None, track_id))
        self._queue: asyncio.Queue[TranscriptionSegment] = asyncio.Queue()
        self._writers: dict[str, Any] = {}
        self._closed = False
        self._task = asyncio.create_task(self._send(), name="room-text-out")

    def capture(self, segment: TranscriptionSegment) -> None:
        if not self._closed:
            self._queue.put_nowait(segment)

    async def _send(self) -> None:
        while True:
            seg = await self._queue.get()
            try:
                if seg.participant == "user":
                    await self._send_whole(seg)
                    continue
                writer = self._writers.get(seg.id)
                if writer is None:
                    identity, track_id = self._sender(seg)
                    attrs = {"lk.segment_id": seg.id, "lk.transcription_final": "false"}
                    if track_id:
                        attrs["lk.transcribed_track_id"] = track_id
                    kwargs: dict[str, Any] = {"topic": TOPIC_TRANSCRIPTION, "attributes": attrs}
                    if identity:
                        kwargs["sender_identity"] = identity
                    writer = await self._room.local_participant.stream_text(**kwargs)
                    self._writers[seg.id] = writer
                if seg.text:
                    await writer.write(seg.text)
                if seg.final:
                    del self._writers[seg.id]
                    await writer.aclose(attributes={"lk.transcription_final": "true"})
            except Exception:
                logger.exception("failed to send a transcription", extra={"segment_id": seg.id})

    async def _send_whole(self, seg: TranscriptionSegment) -> None:
        """A user transcript is the whole text so far, not a delta (LiveKit sends each update,
        interim or final, as a stream of its own under the segment's id)."""
        identity, track_id = self._sender(seg)
        attrs = {"lk.segment_id": seg.id,
                 "lk.transcription_final": "true" if seg.final else "false"}
        if track_id:
            attrs["lk.transcribed_track_id"] = track_id
        kwargs: dict[str, Any] = {"topic": TOPIC_TRANSCRIPTION, "attributes": attrs}
        if identity:
            kwargs["sender_identity"] = identity
        writer = await self._room.local_participant.stream_text(**kwargs)
        await writer.write(seg.text)
        await writer.aclose(attributes={"lk.transcription_final": attrs[
            "lk.transcription_final"]})

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
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
        self._closed = False
        room.register_text_stream_handler(TOPIC_CHAT, self._on_stream)
        self._room = room

    def _on_stream(self, reader: Any, participant_identity: str) -> None:
        if self._closed:
            return
        task = asyncio.create_task(self._read(reader, participant_identity), name="room-chat-in")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, reader: Any, identity: str) -> None:
        text = await reader.read_all()
        try:
            self._on_text(text, identity)
        except Exception:
            logger.exception("failed to handle a chat message")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._room.unregister_text_stream_handler(TOPIC_CHAT)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class AgentStateAttribute:
    """The agent's state as its participant attribute ``lk.agent.state``, every change in order.

    Updates go out from one owned task, so a slow server round trip never blocks the session
    and ``thinking`` can never overtake ``listening``.
    """

    def __init__(self, room: Any) -> None:
        self._room = room
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task = asyncio.create_task(self._send(), name="room-agent-state")

    def set(self, state: str) -> None:
        self._queue.put_nowait(state)

    async def _send(self) -> None:
        while True:
            state = await self._queue.get()
            try:
                await self._room.local_participant.set_attributes(
                    {ATTRIBUTE_AGENT_STATE: state})
            except Exception:
                logger.exception("failed to publish the agent state", extra={"state": state})

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class _Session(Protocol):
    """What :class:`RoomIO` needs of an ``AgentSession``."""

    def generate_reply(self, *, user_input: str) -> Any: ...

    def interrupt(self) -> Any: ...

    async def aclose(self, reason: Any) -> None: ...


class RoomIO:
    """A voice session's I/O in a room: :attr:`io` for the session, :attr:`closed` for its end.

    The linked participant is ``participant_identity``, or else the first non-agent participant
    in the room or joining it. Their microphone is :attr:`audio_input`, their camera feeds
    :meth:`latest_video_frame` / :meth:`capture_image`, their ``lk.chat`` text becomes a reply
    (``session.interrupt()`` then ``session.generate_reply(user_input=text)``), and their leaving
    (or the room disconnecting) resolves :attr:`closed` with the reason and closes the session.
    """

    def __init__(self, room: Any, *, session: _Session | None = None,
                 participant_identity: str | None = None, sample_rate: int = 16000,
                 output_sample_rate: int = 24000, num_channels: int = 1, video: bool = True,
                 on_text: Callable[[str, str], None] | None = None,
                 audio_stream_factory: Callable[[Any, int, int], Any] = _audio_stream,
                 video_stream_factory: Callable[[Any], Any] | None = None,
                 source_factory: Callable[[int, int], Any] = _audio_source,
                 publish: Callable[[Any, Any], Any] = _publish) -> None:
        from flowagents.job.room_video import RoomVideoInput, _video_stream

        self._room = room
        self._session = session
        self._on_text_cb = on_text
        self._identity = participant_identity
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.audio_input = RoomAudioInput(room, participant_identity=participant_identity,
                                          sample_rate=sample_rate, num_channels=num_channels,
                                          stream_factory=audio_stream_factory)
        self.audio_output = RoomAudioOutput(room, sample_rate=output_sample_rate,
                                            num_channels=num_channels,
                                            source_factory=source_factory, publish=publish)
        self.text_output = RoomTextOutput(room, sender=self._sender)
        self.chat_input = RoomChatInput(room, self._on_text)
        self.agent_state = AgentStateAttribute(room)
        self.video_input = RoomVideoInput(
            room, participant_identity=participant_identity,
            stream_factory=video_stream_factory or _video_stream) if video else None
        self.io = SessionIO(audio_input=self.audio_input, audio_output=self.audio_output,
                            text_output=self.text_output)
        self._watcher: asyncio.Task[None] | None = None
        self._aclosed = False
        self._done = asyncio.Event()
        self._job: Any = None  # the JobContext this I/O ends when its session ends
        #: the linked participant leaving ends the session (RoomInputOptions.close_on_disconnect)
        self.close_on_disconnect = True
        room.on("participant_connected", self._on_joined)
        room.on("participant_disconnected", self._on_left)
        room.on("disconnected", self._on_room_disconnected)
        if participant_identity is None:
            for participant in list(getattr(room, "remote_participants", {}).values()):
                self._on_joined(participant)

    @property
    def participant_identity(self) -> str | None:
        """The linked participant (None until one is in the room)."""
        return self._identity

    async def start(self) -> None:
        """Publish the agent's track; watch for the end of the session."""
        await self.audio_output.start()
        if self._session is not None:
            self._watcher = asyncio.create_task(self._close_session(self._session),
                                                name="room-io-close")
            self._report_metrics_to_worker(self._session)
            if hasattr(self._session, "on"):
                self.attach(self._session)

    def attach(self, session: Any) -> None:
        """Follow ``session``: its agent state goes out as ``lk.agent.state``. Inside a job, the
        job's shutdown closes the session first (its history complete before the room is left),
        and the session's end in the room (linked participant gone, room closed) ends the job,
        whose process then goes back to the pool: LiveKit's job lifecycle."""
        session.on("agent_state_changed", lambda ev: self.agent_state.set(str(ev.new_state)))
        from flowagents.job.context import get_job_context

        try:
            self._job = get_job_context()
        except RuntimeError:
            return

        async def close_for_job() -> None:
            from flowagents.voice.events import CloseReason

            await session.aclose(CloseReason.JOB_SHUTDOWN)
            await self.aclose()

        self._job.add_shutdown_callback(close_for_job)

    @staticmethod
    def _report_metrics_to_worker(session: Any) -> None:
        """Inside a job, the session's latency metrics go to the worker's ``/metrics``."""
        from flowagents.job.context import get_job_context

        try:
            ctx = get_job_context()
        except RuntimeError:
            return
        on = getattr(session, "on", None)
        if on is not None:
            on("metrics_collected", ctx.report_metrics)

    def latest_video_frame(self) -> Any:
        """The linked participant's newest ``rtc.VideoFrame`` (the SDK's object), or None."""
        return None if self.video_input is None else self.video_input.latest_frame()

    async def capture_image(self, **kwargs: Any) -> ImageContent | None:
        """The newest video frame as an image to attach to a turn (see ``RoomVideoInput``)."""
        return None if self.video_input is None else await self.video_input.capture_image(
            **kwargs)

    def _sender(self, seg: TranscriptionSegment) -> tuple[str | None, str]:
        if seg.participant == "user":
            return self._identity, self.audio_input.track_sid
        return None, self.audio_output.track_sid

    def _on_joined(self, participant: Any) -> None:
        if self._identity is not None or _is_agent(participant):
            return
        self._identity = participant.identity
        logger.debug("linked a participant", extra={"participant": participant.identity})
        self.audio_input.link(participant.identity)
        if self.video_input is not None:
            self.video_input.link(participant.identity)

    def _on_left(self, participant: Any) -> None:
        if (participant.identity == self._identity and self.close_on_disconnect
                and not self.closed.done()):
            self.closed.set_result("room_disconnected" if _room_ending(participant)
                                   else "participant_disconnected")

    def _on_room_disconnected(self, *_: Any) -> None:
        if not self.closed.done():
            self.closed.set_result("room_disconnected")

    def _on_text(self, text: str, identity: str) -> None:
        if self._identity is not None and identity != self._identity:
            return
        if self._on_text_cb is not None:
            self._on_text_cb(text, identity)
        if self._session is not None:
            self._session.interrupt()
            self._session.generate_reply(user_input=text)

    async def _close_session(self, session: _Session) -> None:
        reason = await asyncio.shield(self.closed)
        from flowagents.voice.events import CloseReason

        logger.info("linked participant gone, closing the session", extra={"reason": reason})
        await session.aclose(CloseReason.PARTICIPANT_DISCONNECTED)
        await self.aclose()

    async def aclose(self) -> None:
        """Stop everything (idempotent: a second call waits for the first to finish; safe to
        call from the session's own ``aclose``)."""
        if self._aclosed:
            await self._done.wait()
            return
        self._aclosed = True
        for event, fn in (("participant_connected", self._on_joined),
                          ("participant_disconnected", self._on_left),
                          ("disconnected", self._on_room_disconnected)):
            with contextlib.suppress(Exception):
                self._room.off(event, fn)
        watcher = self._watcher
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        parts: list[Any] = [self.chat_input, self.text_output, self.agent_state,
                            self.audio_input, self.audio_output]
        if self.video_input is not None:
            parts.append(self.video_input)
        for part in parts:
            try:
                await part.aclose()
            except Exception:
                logger.exception("failed to close room I/O")
        if not self.closed.done():
            self.closed.set_result("closed")
        self._done.set()
        reason = self.closed.result()
        if self._job is not None and reason != "closed":
            self._job.shutdown(reason.replace("_", " "))


def _room_ending(participant: Any) -> bool:
    """Whether ``participant`` left because the room itself is ending (deleted or closed).

    The server tells the other participants before it tells us, so without this a deleted
    room would read as the user hanging up, depending on which message came first.
    """
    from livekit import rtc

    reason = getattr(participant, "disconnect_reason", None)
    return reason in (rtc.DisconnectReason.ROOM_DELETED, rtc.DisconnectReason.ROOM_CLOSED)


async def room_session_io(room: Any, *, session: _Session | None = None,
                          participant_identity: str | None = None, sample_rate: int = 16000,
                          output_sample_rate: int = 24000, **kwargs: Any) -> RoomIO:
    """A started :class:`RoomIO`: pass ``.io`` to the session; ``.closed`` resolves at the end."""
    room_io = RoomIO(room, session=session, participant_identity=participant_identity,
                     sample_rate=sample_rate, output_sample_rate=output_sample_rate, **kwargs)
    await room_io.start()
    return room_io


class _RoomVideo(VideoInput):
    """The room participant's camera as the session's video input."""

    def __init__(self, room_io: RoomIO) -> None:
        self._room_io = room_io

    async def capture_image(self) -> ImageContent | None:
        return await self._room_io.capture_image()


async def open_session_room(session: AgentSession, room: Any,
                            options: Mapping[str, Any]) -> RoomIO:
    """``AgentSession.start(room=...)``: the room's I/O for ``session``. The participant's
    ``lk.chat`` text is a text turn; the agent state goes out as ``lk.agent.state``; inside a
    job, the session's metrics go to the worker and the session and the job end together.
    ``options`` are :class:`RoomIO`'s arguments, and ``input_options``/``output_options``
    (:class:`~flowagents.job.room_options.RoomInputOptions` / ``RoomOutputOptions``)."""
    from flowagents.job.room_options import disabled_parts, room_io_kwargs

    kwargs = dict(options)
    input_options = kwargs.pop("input_options", None)
    output_options = kwargs.pop("output_options", None)
    off: set[str] = set()
    if input_options is not None or output_options is not None:
        kwargs = {**room_io_kwargs(input_options, output_options), **kwargs}
        off = disabled_parts(input_options, output_options)
    on_text = (None if "text_input" in off
               else lambda text, _identity: session.push_text(text))
    room_io = await room_session_io(room, on_text=on_text, **kwargs)
    RoomIO._report_metrics_to_worker(session)
    room_io.attach(session)
    if room_io.video_input is not None:
        room_io.io.video_input = _RoomVideo(room_io)
    for part in off - {"text_input"}:
        setattr(room_io.io, part, None)
    if input_options is not None:
        room_io.close_on_disconnect = input_options.close_on_disconnect
    return room_io


AgentSession.room_opener = open_session_room
