"""``AutoSubscribe``: which of the room's tracks a job subscribes to when it connects (LiveKit's).

``ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY)`` is how LiveKit agents that only listen
save the bandwidth and decoding of video. Everything or nothing is the RTC SDK's own room option;
one kind only is done here: the SDK subscribes to nothing, and each audio (or video) track
published in the room, now or later, is subscribed to by hand.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["AutoSubscribe", "subscribe_kind"]


class AutoSubscribe(enum.StrEnum):
    SUBSCRIBE_ALL = "subscribe_all"
    SUBSCRIBE_NONE = "subscribe_none"
    AUDIO_ONLY = "audio_only"
    VIDEO_ONLY = "video_only"


def _kind(mode: AutoSubscribe) -> Any:
    from livekit import rtc

    return (rtc.TrackKind.KIND_AUDIO if mode is AutoSubscribe.AUDIO_ONLY
            else rtc.TrackKind.KIND_VIDEO)


def subscribe_kind(room: Any, mode: AutoSubscribe) -> None:
    """For ``AUDIO_ONLY``/``VIDEO_ONLY``: subscribe to the tracks of that kind, those published
    already (call once connected) and those published later."""
    kind = _kind(mode)

    def on_published(publication: Any, _participant: Any) -> None:
        if publication.kind == kind:
            publication.set_subscribed(True)

    room.on("track_published", on_published)
    for participant in list(room.remote_participants.values()):
        for publication in list(participant.track_publications.values()):
            on_published(publication, participant)
