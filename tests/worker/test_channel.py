"""The IPC channel never loses a message that reached it, even when the peer resets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from flowagents.ipc.channel import Channel, ChannelClosed
from flowagents.ipc.messages import JobDone, PingRequest


async def test_last_message_of_a_peer_that_closes_with_our_pings_unread_is_delivered() -> None:
    parent_sock, child_sock = socket.socketpair()
    parent = await Channel.open(parent_sock)
    child = await Channel.open(child_sock)
    for i in range(50):  # pings the job process will never read
        await parent.send(PingRequest(timestamp=float(i)))
    await child.send(JobDone(error=None))
    await child.aclose()  # the kernel now resets the connection: our pings were unread
    await asyncio.sleep(0.01)

    assert await parent.recv() == JobDone(error=None)
    with pytest.raises(ChannelClosed):
        await parent.recv()
    await parent.aclose()
