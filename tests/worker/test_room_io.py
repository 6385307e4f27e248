"""Room I/O up to the RTC SDK boundary, with fake room, tracks, sources and text streams."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from livekit import rtc
from rtc_fakes import (
    Event,
    FakeAudioStream,
    FakeParticipant,
    FakeReader,
    FakeRoom,
    FakeSource,
    FakeTrack,
    FakeVideoStream,
    FakeVideoTrack,
    VideoEvent,
    rtc_frame,
)

from flowagents.job.room_io import (
    TOPIC_CHAT,
    TOPIC_TRANSCRIPTION,
    RoomAudioInput,
    RoomAudioOutput,
    RoomChatInput,
    RoomIO,
    RoomTextOutput,
    room_session_io,
)
from flowagents.job.room_video import RoomVideoInput, encode_frame
from flowagents.llm import ImageContent
from flowagents.types import AudioFrame
from flowagents.voice.io import TranscriptionSegment


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


async def test_audio_input_pushes_linked_participant_until_they_leave() -> None:
    room = FakeRoom()
    streams: list[FakeAudioStream] = []

    def factory(track: Any, rate: int, channels: int) -> FakeAudioStream:
        streams.append(FakeAudioStream(rate, channels))
        return streams[-1]

    audio_in = RoomAudioInput(room, participant_identity="user", stream_factory=factory)
    got: list[AudioFrame] = []
    ends: list[BaseException | None] = []
    audio_in.push_to(got.append, ends.append)
    room.emit("track_subscribed", FakeTrack(), None, FakeParticipant("someone-else"))
    await asyncio.sleep(0.01)
    assert streams == []
    room.emit("track_subscribed", FakeTrack(), None, FakeParticipant("user"))
    await asyncio.sleep(0.01)
    assert len(streams) == 1
    for v in (1, 2, 3):
        streams[0].queue.put_nowait(Event(rtc_frame(v)))
    await asyncio.sleep(0.01)
    assert [int(f.data[0]) for f in got] == [1, 2, 3]
    assert (got[0].sample_rate, got[0].num_channels, len(got[0].data)) == (16000, 1, 320)
    assert ends == []
    room.emit("participant_disconnected", FakeParticipant("user"))
    await asyncio.sleep(0.01)
    assert ends == [None]
    streams[0].queue.put_nowait(Event(rtc_frame(4)))  # nothing after the end
    await asyncio.sleep(0.01)
    assert len(got) == 3
    assert ends == [None]
    await audio_in.aclose()
    assert streams[0].closed


async def test_audio_input_push_reports_a_failing_consumer_and_stops() -> None:
    room = FakeRoom()
    stream = FakeAudioStream(16000, 1)
    audio_in = RoomAudioInput(room, stream_factory=lambda t, r, c: stream)
    ends: list[BaseException | None] = []
    seen: list[int] = []

    def on_frame(f: AudioFrame) -> None:
        seen.append(int(f.data[0]))
        if len(seen) == 2:
            raise ValueError("consumer broke")

    audio_in.push_to(on_frame, ends.append)
    room.emit("track_subscribed", FakeTrack(), None, FakeParticipant("user"))
    for v in (1, 2, 3):
        stream.queue.put_nowait(Event(rtc_frame(v)))
    await asyncio.sleep(0.01)
    assert seen == [1, 2]
    assert len(ends) == 1
    assert isinstance(ends[0], ValueError)
    await audio_in.aclose()


async def test_audio_input_push_stop_ends_without_on_end() -> None:
    room = FakeRoom()
    stream = FakeAudioStream(16000, 1)
    audio_in = RoomAudioInput(room, stream_factory=lambda t, r, c: stream)
    got: list[AudioFrame] = []
    ends: list[BaseException | None] = []
    stop = audio_in.push_to(got.append, ends.append)
    room.emit("track_subscribed", FakeTrack(), None, FakeParticipant("user"))
    stream.queue.put_nowait(Event(rtc_frame(1)))
    await asyncio.sleep(0.01)
    stop()
    stream.queue.put_nowait(Event(rtc_frame(2)))
    await asyncio.sleep(0.01)
    assert [int(f.data[0]) for f in got] == [1]
    assert ends == []
    await audio_in.aclose()


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
    """The agent's text comes in deltas: one stream per segment. A user transcript is the whole
    text so far: each update goes out as a stream of its own (as LiveKit sends them)."""
    room = FakeRoom()
    out = RoomTextOutput(room, track_id="TR_1")
    out.capture(TranscriptionSegment(id="s1", text="Hello", participant="agent"))
    out.capture(TranscriptionSegment(id="s1", text=" world", participant="agent", final=True))
    out.capture(TranscriptionSegment(id="s2", text="Hi", participant="user"))
    out.capture(TranscriptionSegment(id="s2", text="Hi there", participant="user", final=True))
    out.capture(TranscriptionSegment(id="s3", text="Bye", participant="agent"))
    await asyncio.sleep(0.01)
    w1, w2, w3, w4 = room.local_participant.writers
    assert w1.topic == TOPIC_TRANSCRIPTION
    assert w1.attributes["lk.segment_id"] == "s1"
    assert w1.attributes["lk.transcribed_track_id"] == "TR_1"
    assert w1.chunks == ["Hello", " world"]
    assert w1.closed == {"lk.transcription_final": "true"}
    assert [(w.attributes["lk.segment_id"], w.chunks, w.closed) for w in (w2, w3)] == [
        ("s2", ["Hi"], {"lk.transcription_final": "false"}),
        ("s2", ["Hi there"], {"lk.transcription_final": "true"})]
    assert w4.closed is None  # the agent's segment stays open until final
    await out.aclose()
    assert w4.closed == {}


async def test_chat_input_delivers_lk_chat_text() -> None:
    room = FakeRoom()
    got: list[tuple[str, str]] = []
    chat = RoomChatInput(room, lambda text, who: got.append((text, who)))

    room.text_handlers[TOPIC_CHAT](FakeReader("hello agent"), "user")
    await asyncio.sleep(0.01)
    assert got == [("hello agent", "user")]
    await chat.aclose()
    assert TOPIC_CHAT not in room.text_handlers


async def test_audio_output_resamples_frames_at_another_rate_to_the_track_rate() -> None:
    source = FakeSource()
    made: list[tuple[int, int, int]] = []

    class Resampler:
        def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
            made.append((rate_in, rate_out, channels))
            self.ratio = rate_out / rate_in

        def push(self, f: rtc.AudioFrame) -> list[rtc.AudioFrame]:
            n = round(f.samples_per_channel * self.ratio)
            return [rtc.AudioFrame(bytes(2 * n), 24000, 1, n)]

    async def publish(room: Any, src: Any) -> Any:
        return FakeVideoTrack(sid="TR_agent")

    out = RoomAudioOutput(FakeRoom(), sample_rate=24000, source_factory=lambda r, c: source,
                          publish=publish, resampler_factory=Resampler)
    await out.start()
    assert out.track_sid == "TR_agent"
    out.capture(AudioFrame(np.zeros(220, np.int16), 22050))  # 10 ms at 22.05 kHz
    out.capture(AudioFrame(np.zeros(240, np.int16), 24000))  # already at the track's rate
    out.capture(AudioFrame(np.zeros(220, np.int16), 22050))
    await asyncio.sleep(0.01)
    assert [f.samples_per_channel for f in source.frames] == [239, 240, 239]
    assert made == [(22050, 24000, 1)]  # one resampler, kept across frames
    await out.aclose()
    await out.aclose()  # idempotent


async def test_transcriptions_carry_sender_and_track_per_participant() -> None:
    room = FakeRoom()
    out = RoomTextOutput(room, sender=lambda s: ("alice", "TR_mic") if s.participant == "user"
                         else (None, "TR_agent"))
    out.capture(TranscriptionSegment(id="u1", text="hi", participant="user", final=True))
    out.capture(TranscriptionSegment(id="a1", text="hello", participant="agent", final=True))
    await asyncio.sleep(0.01)
    user, agent = room.local_participant.writers
    assert (user.sender_identity, user.attributes["lk.transcribed_track_id"]) == ("alice",
                                                                                  "TR_mic")
    assert (agent.sender_identity, agent.attributes["lk.transcribed_track_id"]) == (None,
                                                                                    "TR_agent")
    await out.aclose()


def rgba_frame(w: int = 64, h: int = 48,
               rgb: tuple[int, int, int] = (200, 30, 10)) -> rtc.VideoFrame:
    pixels = np.empty((h, w, 4), np.uint8)
    pixels[...] = (*rgb, 255)
    return rtc.VideoFrame(w, h, rtc.VideoBufferType.RGBA, pixels.tobytes())


async def test_video_keeps_the_latest_frame_of_the_linked_participant_without_copying() -> None:
    room = FakeRoom()
    streams: list[FakeVideoStream] = []

    def factory(track: Any) -> FakeVideoStream:
        streams.append(FakeVideoStream())
        return streams[-1]

    video = RoomVideoInput(room, stream_factory=factory)
    room.emit("track_subscribed", FakeVideoTrack(), None, FakeParticipant("alice"))
    assert streams == []  # nobody linked yet
    video.link("alice")
    room.emit("track_subscribed", FakeVideoTrack(), None, FakeParticipant("bob"))
    assert streams == []
    track = FakeVideoTrack()
    room.emit("track_subscribed", track, None, FakeParticipant("alice"))
    assert len(streams) == 1
    assert video.latest_frame() is None
    first, second = rgba_frame(), rgba_frame(rgb=(0, 0, 255))
    streams[0].queue.put_nowait(VideoEvent(first))
    streams[0].queue.put_nowait(VideoEvent(second))
    await asyncio.sleep(0.01)
    assert video.latest_frame() is second  # the SDK's object itself, not a copy
    image = await video.capture_image(max_size=32)
    assert isinstance(image, ImageContent)
    assert image.mime_type == "image/jpeg"
    assert image.image.startswith("data:image/jpeg;base64,")
    room.emit("track_unsubscribed", track, None, FakeParticipant("alice"))
    await asyncio.sleep(0.01)
    assert video.latest_frame() is None
    assert streams[0].closed
    assert await video.capture_image() is None
    await video.aclose()


def test_encode_frame_converts_yuv_and_scales_to_fit() -> None:
    import io

    from PIL import Image

    i420 = rgba_frame(640, 360, (10, 200, 30)).convert(rtc.VideoBufferType.I420)
    png = encode_frame(i420, fmt="PNG", max_size=320)
    image = Image.open(io.BytesIO(png))
    assert image.size == (320, 180)
    r, g, b = image.convert("RGB").getpixel((160, 90))
    assert g > 150
    assert r < 60
    assert b < 80
    jpeg = encode_frame(rgba_frame(), fmt="JPEG")
    assert Image.open(io.BytesIO(jpeg)).size == (64, 48)


class SessionStub:
    """Records what RoomIO asks of a session."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.room_io: RoomIO | None = None

    def generate_reply(self, *, user_input: str) -> None:
        self.calls.append(("generate_reply", user_input))

    def interrupt(self) -> None:
        self.calls.append(("interrupt", None))

    async def aclose(self, reason: Any) -> None:
        self.calls.append(("aclose", str(reason)))
        assert self.room_io is not None
        await self.room_io.aclose()  # what AgentSession.aclose does


async def test_room_io_links_the_first_user_and_closes_the_session_when_they_leave() -> None:
    room = FakeRoom()
    room.remote_participants["bot"] = FakeParticipant(
        "bot", kind=rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)
    streams: list[FakeAudioStream] = []
    published: list[Any] = []
    session = SessionStub()

    def audio_factory(track: Any, rate: int, channels: int) -> FakeAudioStream:
        streams.append(FakeAudioStream(rate, channels))
        return streams[-1]

    async def publish(room: Any, source: Any) -> Any:
        published.append(source)
        return FakeVideoTrack(sid="TR_agent")

    rio = await room_session_io(room, session=session, sample_rate=16000,
                                audio_stream_factory=audio_factory,
                                video_stream_factory=lambda t: FakeVideoStream(),
                                source_factory=lambda r, c: FakeSource(), publish=publish)
    session.room_io = rio
    assert isinstance(rio, RoomIO)
    assert rio.io.audio_input is rio.audio_input
    assert rio.io.text_output is rio.text_output
    assert len(published) == 1
    assert rio.participant_identity is None  # an agent is not linked
    room.emit("participant_connected", FakeParticipant("alice"))
    room.emit("participant_connected", FakeParticipant("bob"))
    assert rio.participant_identity == "alice"
    frames: list[AudioFrame] = []

    async def read() -> None:
        async for f in rio.io.audio_input:  # type: ignore[union-attr]
            frames.append(f)

    reader = asyncio.create_task(read())
    room.emit("track_subscribed", FakeTrack(sid="TR_bob"), None, FakeParticipant("bob"))
    room.emit("track_subscribed", FakeTrack(sid="TR_alice"), None, FakeParticipant("alice"))
    await asyncio.sleep(0.01)
    assert len(streams) == 1
    assert streams[0].rate == 16000
    streams[0].queue.put_nowait(Event(rtc_frame(7)))
    room.text_handlers[TOPIC_CHAT](FakeReader("from bob"), "bob")  # not the linked user
    room.text_handlers[TOPIC_CHAT](FakeReader("what's the weather?"), "alice")
    rio.text_output.capture(TranscriptionSegment(id="u1", text="hi", participant="user"))
    await asyncio.sleep(0.01)
    assert [int(f.data[0]) for f in frames] == [7]
    assert session.calls == [("interrupt", None), ("generate_reply", "what's the weather?")]
    writer = room.local_participant.writers[0]
    assert writer.sender_identity == "alice"
    assert writer.attributes["lk.transcribed_track_id"] == "TR_alice"
    room.emit("participant_disconnected", FakeParticipant("bob"))
    await asyncio.sleep(0.01)
    assert not rio.closed.done()
    room.emit("participant_disconnected", FakeParticipant("alice"))
    assert await asyncio.wait_for(rio.closed, 1) == "participant_disconnected"
    await asyncio.wait_for(reader, 1)
    await asyncio.sleep(0.01)
    assert session.calls[-1] == ("aclose", "participant_disconnected")
    assert streams[0].closed
    assert TOPIC_CHAT not in room.text_handlers
    assert all(not handlers for handlers in room.handlers.values())  # every listener removed


async def test_room_disconnect_resolves_closed_without_a_session() -> None:
    room = FakeRoom()
    got: list[tuple[str, str]] = []
    rio = await room_session_io(room, participant_identity="alice", video=False,
                                on_text=lambda text, who: got.append((text, who)),
                                audio_stream_factory=lambda t, r, c: FakeAudioStream(r, c),
                                source_factory=lambda r, c: FakeSource(),
                                publish=lambda room, src: asyncio.sleep(0, "pub"))
    room.text_handlers[TOPIC_CHAT](FakeReader("hello"), "alice")
    await asyncio.sleep(0.01)
    assert got == [("hello", "alice")]
    assert rio.latest_video_frame() is None
    assert await rio.capture_image() is None
    room.emit("disconnected", "ROOM_DELETED")
    assert await asyncio.wait_for(rio.closed, 1) == "room_disconnected"
    await rio.aclose()


class FollowedSession(SessionStub):
    """A session with events: room I/O follows its agent state."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: dict[str, list[Any]] = {}

    def on(self, event: str, fn: Any) -> None:
        self.listeners.setdefault(event, []).append(fn)

    def state(self, new_state: str) -> None:
        for fn in self.listeners.get("agent_state_changed", []):
            fn(type("Ev", (), {"new_state": new_state})())


class JobStub:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.shutdowns: list[str] = []

    def report_metrics(self, event: Any) -> None: ...

    def add_shutdown_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def shutdown(self, reason: str = "") -> None:
        self.shutdowns.append(reason)


async def _room_io_in_job(monkeypatch: Any) -> tuple[FakeRoom, FollowedSession, JobStub, RoomIO]:
    import flowagents.job.context

    job = JobStub()
    monkeypatch.setattr(flowagents.job.context, "get_job_context", lambda: job)
    room = FakeRoom()
    room.remote_participants["alice"] = FakeParticipant("alice")
    session = FollowedSession()
    rio = await room_session_io(room, session=session, video=False,
                                audio_stream_factory=lambda t, r, c: FakeAudioStream(r, c),
                                source_factory=lambda r, c: FakeSource(),
                                publish=lambda room, src: asyncio.sleep(0, "pub"))
    session.room_io = rio
    return room, session, job, rio


async def test_agent_state_goes_out_as_a_participant_attribute_in_order(monkeypatch: Any) -> None:
    room, session, _job, rio = await _room_io_in_job(monkeypatch)
    for state in ("listening", "thinking", "speaking", "listening"):
        session.state(state)
    await asyncio.sleep(0.01)
    assert room.local_participant.attribute_updates == [
        {"lk.agent.state": s} for s in ("listening", "thinking", "speaking", "listening")]
    await rio.aclose()


async def test_in_a_job_the_participant_leaving_ends_the_job_after_the_session(
        monkeypatch: Any) -> None:
    room, session, job, rio = await _room_io_in_job(monkeypatch)
    room.emit("participant_disconnected", FakeParticipant("alice"))
    await asyncio.wait_for(rio.closed, 1)
    await asyncio.sleep(0.01)
    assert session.calls == [("aclose", "participant_disconnected")]
    assert job.shutdowns == ["participant disconnected"]


async def test_a_deleted_room_ends_the_job_as_room_disconnected_even_if_the_user_goes_first(
        monkeypatch: Any) -> None:
    # The server tells the agent the user left (reason ROOM_DELETED) before its own disconnect.
    room, session, job, rio = await _room_io_in_job(monkeypatch)
    room.emit("participant_disconnected", FakeParticipant(
        "alice", disconnect_reason=rtc.DisconnectReason.ROOM_DELETED))
    assert await asyncio.wait_for(rio.closed, 1) == "room_disconnected"
    await asyncio.sleep(0.01)
    assert session.calls == [("aclose", "participant_disconnected")]
    assert job.shutdowns == ["room disconnected"]


async def test_a_job_shutting_down_closes_the_session_first(monkeypatch: Any) -> None:
    _room, session, job, rio = await _room_io_in_job(monkeypatch)
    [close_for_job] = job.callbacks
    await close_for_job()
    assert session.calls == [("aclose", "job_shutdown")]
    assert rio.closed.result() == "closed"
    assert job.shutdowns == []  # the job is already ending; room I/O does not end it again

