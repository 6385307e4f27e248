"""``AgentSession.start(agent, room=...)``: the room's I/O (with the worker's room I/O over fake
RTC objects), chat text as a user turn, and the session closing when the participant leaves."""

from __future__ import annotations

import asyncio
from typing import Any

from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script
from flowagents.voice import Agent, CloseEvent, CloseReason
from tests.worker.rtc_fakes import (
    FakeAudioStream,
    FakeParticipant,
    FakeReader,
    FakeRoom,
    FakeSource,
    FakeVideoStream,
    FakeVideoTrack,
)


def test_a_session_in_a_room_answers_chat_and_closes_when_the_participant_leaves() -> None:
    script = Script()
    script.llm_reply(input="Hello from the chat.", content="Hi!")
    script.tts_audio(input="Hi!", audio_duration=0.5)
    sources: list[FakeSource] = []

    async def scenario() -> tuple[AgentSession, list[Any], FakeRoom, list[FakeSource]]:
        from flowagents.job.room_io import TOPIC_CHAT

        room = FakeRoom()
        room.remote_participants["alice"] = FakeParticipant("alice")

        def source(rate: int, channels: int) -> FakeSource:
            sources.append(FakeSource())
            return sources[-1]

        async def publish(_room: Any, _source: Any) -> Any:
            return FakeVideoTrack(sid="TR_agent")

        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script))
        events: list[Any] = []
        session.events.subscribe(events.append)
        await session.start(Agent(instructions="x"), room=room, room_options={
            "audio_stream_factory": lambda t, r, c: FakeAudioStream(r, c),
            "video_stream_factory": lambda t: FakeVideoStream(),
            "source_factory": source, "publish": publish})
        await asyncio.sleep(1.0)
        room.text_handlers[TOPIC_CHAT](FakeReader("Hello from the chat."), "alice")
        await asyncio.sleep(2.0)
        room.emit("participant_disconnected", FakeParticipant("alice"))
        await asyncio.sleep(1.0)
        return session, events, room, sources

    session, events, room, sources = run_virtual(scenario())
    assert [(i.role, i.text_content) for i in session.history.items if i.type == "message"] == [
        ("user", "Hello from the chat."), ("assistant", "Hi!")]
    assert sources[0].frames  # the agent's audio went to the room's track
    closes = [e for e in events if isinstance(e, CloseEvent)]
    assert [(c.reason, round(c.created_at, 6)) for c in closes] == [
        (CloseReason.PARTICIPANT_DISCONNECTED, 3.0)]
    assert sources[0].closed
    assert all(not handlers for handlers in room.handlers.values())  # room I/O let go


def test_inside_a_job_the_sessions_metrics_reach_the_worker(monkeypatch: Any) -> None:
    import flowagents.job.context

    reported: list[Any] = []

    class Job:
        def report_metrics(self, event: Any) -> None:
            reported.append(event)

        def add_shutdown_callback(self, callback: Any) -> None:
            """Room I/O closes the session first when the job shuts down."""

        def shutdown(self, reason: str = "") -> None: ...

    monkeypatch.setattr(flowagents.job.context, "get_job_context", lambda: Job())
    script = Script()
    script.llm_reply(input="Hello from the chat.", content="Hi!")
    script.tts_audio(input="Hi!", audio_duration=0.5)

    async def scenario() -> None:
        from flowagents.job.room_io import TOPIC_CHAT

        room = FakeRoom()
        room.remote_participants["alice"] = FakeParticipant("alice")

        async def publish(_room: Any, _source: Any) -> Any:
            return FakeVideoTrack(sid="TR_agent")

        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script))
        await session.start(Agent(instructions="x"), room=room, room_options={
            "audio_stream_factory": lambda t, r, c: FakeAudioStream(r, c),
            "video_stream_factory": lambda t: FakeVideoStream(),
            "source_factory": lambda rate, channels: FakeSource(), "publish": publish})
        await asyncio.sleep(1.0)
        room.text_handlers[TOPIC_CHAT](FakeReader("Hello from the chat."), "alice")
        await asyncio.sleep(2.0)
        await session.aclose()

    run_virtual(scenario())
    kinds = {type(getattr(event, "metrics", event)).__name__ for event in reported}
    assert {"LLMMetrics", "TTSMetrics"} <= kinds
