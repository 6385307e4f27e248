"""Feeds: how a session's inputs reach its graph, and what a room link is.

The user's audio input pushes its frames straight into the graph's ``audio`` input (or is
iterated, for an input that can only be read); text input becomes typed turns. A room link
(``flowagents.job.room_io.RoomIO`` is one) gives a session its I/O and tells it when the room
ends for it; the room layer sits above the session and plugs itself in
(``AgentSession.room_opener``), so the session never imports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from reactivex import abc

from flowagents.types import AudioFrame
from flowagents.voice.io import AudioInput, SessionIO, TextInput

__all__ = ["RoomLink", "RoomOpener", "feed_audio", "feed_text"]


class RoomLink(Protocol):
    """A session's link to a LiveKit room: the I/O the session runs on, and ``closed``,
    resolved with the reason when the room ends for it."""

    io: SessionIO
    closed: asyncio.Future[str]

    async def aclose(self) -> None: ...


RoomOpener = Callable[[Any, Any, Mapping[str, Any]], Awaitable[RoomLink]]


async def feed_audio(source: AudioInput, into: abc.ObserverBase[AudioFrame]) -> None:
    """Push ``source``'s frames into ``into`` until the input ends (its error is raised)."""
    ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_end(error: BaseException | None) -> None:
        if not ended.done():
            if error is None:
                ended.set_result(None)
            else:
                ended.set_exception(error)

    stop = source.push_to(into.on_next, on_end)
    if stop is None:  # an input that is only iterated
        async for frame in source:
            into.on_next(frame)
        return
    try:
        await ended
    finally:
        stop()


async def feed_text(source: TextInput, push_text: Callable[[str], None]) -> None:
    async for text in source:
        push_text(text)
