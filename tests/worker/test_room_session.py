"""A real AgentSession on room I/O (fake SDK objects), in virtual time.

The user's microphone is a fake ``rtc.AudioStream`` that yields silent 10 ms ``rtc.AudioFrame``s on
the loop clock; the scripted fakes (VAD, STT, LLM, TTS) decide what was said. The test checks the
whole path the session needs in a room: the microphone drives a turn, the reply is published on
the agent's track and transcribed on ``lk.transcription``, ``lk.chat`` text gets a reply, and the
user leaving closes the session with ``participant_disconnected``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livekit import rtc
from rtc_fakes import FakeParticipant, FakeReader, FakeRoom, FakeSource, FakeTrack, FakeVideoTrack

from flowagents.job.room_io import TOPIC_CHAT, TOPIC_TRANSCRIPTION, room_session_io
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script, sleep_until
from flowagents.voice import Agent

FRAME = 0.01


class ClockedMic:
    """A fake ``rtc.AudioStream``: silent frames, each delivered at its end time."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.closed = False

    def __aiter__(self) -> ClockedMic:
        self._k = 0
        self._t0 = asyncio.get_running_loop().time()
        return self

    async def __anext__(self) -> Any:
        if self.closed:
            raise StopAsyncIteration
        self._k += 1
        await sleep_until(self._t0 + self._k * FRAME)
        n = round(self.rate * FRAME)
        return type("Ev", (), {"frame": rtc.AudioFrame(bytes(2 * n), self.rate, 1, n)})()

    async def aclose(self) -> None:
        self.closed = True


async def scenario() -> dict[str, Any]:
    script = (Script()
              .user_speech(start=1.0, end=2.0, transcript="Hello there")
              .llm_reply(input="Hello there", content="Hi! How can I help?")
              .tts_audio(input="Hi! How can I help?", audio_duration=1.0)
              .llm_reply(input="What time is it?", content="Noon.")
              .tts_audio(input="Noon.", audio_duration=0.5))
    room = FakeRoom()
    source = FakeSource()
    mics: list[ClockedMic] = []

    def mic(track: Any, rate: int, channels: int) -> ClockedMic:
        mics.append(ClockedMic(rate))
        return mics[-1]

    async def publish(room: Any, src: Any) -> Any:
        return FakeVideoTrack(sid="TR_agent")

    session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                           tts=FakeTTS(script))
    closes: list[str] = []
    session.on("close", lambda ev: closes.append(str(ev.reason)))
    alice = FakeParticipant("alice")
    room.remote_participants["alice"] = alice
    rio = await room_session_io(room, session=session, audio_stream_factory=mic,
                                source_factory=lambda r, c: source, publish=publish,
                                video=False)
    await session.start(Agent(instructions="Be brief."), io=rio.io)
    room.emit("track_subscribed", FakeTrack(sid="TR_alice"), None, alice)
    await sleep_until(6.0)
    room.text_handlers[TOPIC_CHAT](FakeReader("What time is it?"), "alice")
    await sleep_until(9.0)
    room.emit("participant_disconnected", alice)
    await asyncio.wait_for(rio.closed, 1)
    await sleep_until(9.5)
    return {"session": session, "room": room, "source": source, "closes": closes,
            "mics": mics}


def test_session_on_room_io_hears_replies_transcribes_chats_and_closes_when_user_leaves(
) -> None:
    r = run_virtual(scenario())
    session: AgentSession = r["session"]
    messages = [(i.role, i.text_content) for i in session.history.items if i.type == "message"]
    assert messages == [("user", "Hello there"), ("assistant", "Hi! How can I help?"),
                        ("user", "What time is it?"), ("assistant", "Noon.")]
    # 1.5 s of agent audio reached the published track at its rate (24 kHz)
    samples = sum(f.samples_per_channel for f in r["source"].frames)
    assert samples == 36000
    writers = r["room"].local_participant.writers
    assert {w.topic for w in writers} == {TOPIC_TRANSCRIPTION}
    agent_text = ["".join(w.chunks) for w in writers
                  if w.attributes.get("lk.transcribed_track_id") == "TR_agent"]
    assert agent_text == ["Hi! How can I help?", "Noon."]
    user = [w for w in writers if w.sender_identity == "alice"]
    assert user
    assert all(w.attributes["lk.transcribed_track_id"] == "TR_alice" for w in user)
    # the agent's state, as LiveKit's clients read it: the lk.agent.state attribute, in order
    states = [u["lk.agent.state"] for u in r["room"].local_participant.attribute_updates]
    assert states == ["listening", "thinking", "speaking", "listening",
                      "thinking", "speaking", "listening"]
    assert r["closes"] == ["participant_disconnected"]
    assert r["mics"][0].closed
    assert r["mics"][0].rate == 16000
