"""``ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY)``: LiveKit's subscription modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from livekit import rtc
from livekit.protocol import agent, models
from rtc_fakes import FakeRoom

from flowagents import agents
from flowagents.job import JobContext, JobProcess


@dataclass
class Publication:
    kind: Any
    sid: str
    subscribed: list[bool] = field(default_factory=list)

    def set_subscribed(self, value: bool) -> None:
        self.subscribed.append(value)


@dataclass
class Participant:
    identity: str
    track_publications: dict[str, Publication] = field(default_factory=dict)


class ConnectingRoom(FakeRoom):
    def __init__(self) -> None:
        super().__init__()
        self.options: Any = None

    async def connect(self, url: str, token: str, options: Any) -> None:
        self.options = options


AUDIO, VIDEO = rtc.TrackKind.KIND_AUDIO, rtc.TrackKind.KIND_VIDEO


async def _connect(mode: Any) -> tuple[ConnectingRoom, Publication, Publication, Publication]:
    ctx = JobContext(job=agent.Job(id="J", room=models.Room(name="r")), proc=JobProcess(),
                     url="ws://x", token="t")
    room = ConnectingRoom()
    mic, cam = Publication(AUDIO, "TR_mic"), Publication(VIDEO, "TR_cam")
    room.remote_participants["alice"] = Participant("alice", {"a": mic, "v": cam})
    ctx._room = room  # type: ignore[assignment]
    await ctx.connect(auto_subscribe=mode)
    later = Publication(AUDIO, "TR_later")
    room.emit("track_published", later, room.remote_participants["alice"])
    return room, mic, cam, later


@pytest.mark.parametrize(("mode", "sdk_all", "mic", "cam", "later"), [
    (agents.AutoSubscribe.SUBSCRIBE_ALL, True, [], [], []),
    (True, True, [], [], []),
    (agents.AutoSubscribe.SUBSCRIBE_NONE, False, [], [], []),
    (False, False, [], [], []),
    (agents.AutoSubscribe.AUDIO_ONLY, False, [True], [], [True]),
    (agents.AutoSubscribe.VIDEO_ONLY, False, [], [True], []),
])
async def test_auto_subscribe_modes(mode: Any, sdk_all: bool, mic: list[bool], cam: list[bool],
                                    later: list[bool]) -> None:
    room, m, c, lt = await _connect(mode)
    assert room.options.auto_subscribe is sdk_all
    assert (m.subscribed, c.subscribed, lt.subscribed) == (mic, cam, later)
