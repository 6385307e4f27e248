"""``session.start(room=..., room_input_options=..., room_output_options=...)``: LiveKit's room
options decide which parts of the room's I/O the session gets (fake SDK objects)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from rtc_fakes import FakeAudioStream, FakeParticipant, FakeReader, FakeRoom, FakeSource

from flowagents.job.room_io import TOPIC_CHAT, open_session_room
from flowagents.job.room_options import RoomInputOptions, RoomOutputOptions
from flowagents.session import AgentSession


def _fakes(rates: list[tuple[int, int]]) -> dict[str, Any]:
    def source(rate: int, channels: int) -> FakeSource:
        rates.append((rate, channels))
        return FakeSource()

    return {"audio_stream_factory": lambda t, r, c: FakeAudioStream(r, c),
            "source_factory": source, "publish": lambda room, src: asyncio.sleep(0, "pub")}


async def test_options_switch_off_parts_of_the_room_io_and_the_close_on_disconnect() -> None:
    room = FakeRoom()
    room.remote_participants["bob"] = FakeParticipant("bob")
    room.remote_participants["alice"] = FakeParticipant("alice")
    session = AgentSession()
    texts: list[str] = []
    session.push_text = texts.append  # type: ignore[method-assign]
    rates: list[tuple[int, int]] = []
    rio = await open_session_room(session, room, {
        "input_options": RoomInputOptions(audio_enabled=False, text_enabled=False,
                                          participant_identity="alice",
                                          close_on_disconnect=False),
        "output_options": RoomOutputOptions(transcription_enabled=False,
                                            audio_sample_rate=48000),
        **_fakes(rates)})
    assert rio.io.audio_input is None
    assert rio.io.text_output is None
    assert rio.io.audio_output is rio.audio_output
    assert rates == [(48000, 1)]
    assert rio.participant_identity == "alice"
    room.text_handlers[TOPIC_CHAT](FakeReader("hello"), "alice")
    await asyncio.sleep(0.01)
    assert texts == []
    room.emit("participant_disconnected", FakeParticipant("alice"))
    await asyncio.sleep(0.01)
    assert not rio.closed.done()
    await rio.aclose()
    assert await rio.closed == "closed"


async def test_default_options_keep_everything_and_chat_is_a_text_turn() -> None:
    room = FakeRoom()
    room.remote_participants["alice"] = FakeParticipant("alice")
    session = AgentSession()
    texts: list[str] = []
    session.push_text = texts.append  # type: ignore[method-assign]
    rates: list[tuple[int, int]] = []
    rio = await open_session_room(session, room, {
        "input_options": RoomInputOptions(), "output_options": RoomOutputOptions(),
        **_fakes(rates)})
    assert rio.io.audio_input is rio.audio_input
    assert rio.io.text_output is rio.text_output
    assert rates == [(24000, 1)]
    room.text_handlers[TOPIC_CHAT](FakeReader("hello"), "alice")
    await asyncio.sleep(0.01)
    assert texts == ["hello"]
    room.emit("participant_disconnected", FakeParticipant("alice"))
    assert await asyncio.wait_for(rio.closed, 1) == "participant_disconnected"
    await rio.aclose()


def test_an_option_flowagents_does_not_have_is_refused() -> None:
    with pytest.raises(ValidationError, match="noise_cancellation"):
        RoomInputOptions(noise_cancellation=object())  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="audio_num_channels"):
        RoomOutputOptions(audio_num_channels=6)
