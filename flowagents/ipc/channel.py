"""A duplex channel of typed IPC messages over one end of a socket pair.

Frames are a 4-byte big-endian length followed by the JSON of one :mod:`messages` model. The
channel is asyncio on both sides (the worker's loop and the job process's loop); a peer that dies
shows up as :class:`ChannelClosed` on the next receive.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from pydantic import ValidationError

from flowagents.ipc.messages import MESSAGE_ADAPTER, Message

__all__ = ["MAX_FRAME", "Channel", "ChannelClosed", "ProtocolError"]

MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class ChannelClosed(ConnectionError):
    """The peer closed its end (or died)."""


class ProtocolError(ValueError):
    """A frame that is not a valid message."""


class _Reader(asyncio.StreamReader):
    """A stream reader that hands over every byte received before a reset.

    A peer that exits with our messages still unread in its socket (a job process closing while
    a ping is in flight) makes the kernel report ECONNRESET. asyncio's StreamReader then raises
    that error before the bytes it already holds, so the peer's last message (its JobDone) would
    be lost and a finished job reported as crashed. Here a reset ends the stream like EOF:
    buffered frames come first, then :class:`ChannelClosed`.
    """

    def set_exception(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionResetError):
            self.feed_eof()
        else:
            super().set_exception(exc)


class Channel:
    """Send and receive :data:`Message` values over a connected stream socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._send_lock = asyncio.Lock()

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        """Wrap a connected socket (one end of ``socket.socketpair()``) on the running loop."""
        loop = asyncio.get_running_loop()
        reader = _Reader()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
        return cls(reader, asyncio.StreamWriter(transport, protocol, reader, loop))

    async def send(self, msg: Message) -> None:
        """Write one message; raise :class:`ChannelClosed` when the peer is gone."""
        body = MESSAGE_ADAPTER.dump_json(msg)
        async with self._send_lock:
            try:
                self._writer.write(_HEADER.pack(len(body)) + body)
                await self._writer.drain()
            except (ConnectionError, RuntimeError) as e:
                raise ChannelClosed("peer closed the channel") from e

    async def recv(self) -> Message:
        """Read one message; :class:`ChannelClosed` at end of stream."""
        try:
            header = await self._reader.readexactly(_HEADER.size)
            (size,) = _HEADER.unpack(header)
            if size > MAX_FRAME:
                raise ProtocolError("frame too large")
            body = await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            raise ChannelClosed("peer closed the channel") from e
        try:
            return MESSAGE_ADAPTER.validate_json(body)
        except ValidationError:
            raise ProtocolError("invalid IPC message") from None

    async def aclose(self) -> None:
        """Close our end; safe to call twice."""
        if self._writer.is_closing():
            return
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, RuntimeError):
            pass
