"""What the WebSocket providers share: reading JSON messages, a sender beside the reader, and an
outbox from the stream's background task to the code iterating it.

Deepgram, Cartesia, ElevenLabs and OpenAI Realtime each run one task per stream that talks to
the service while the session pushes input and iterates results. The parts that are not their
wire format live here once: :func:`json_messages` reads a socket until it closes and turns a
frame that is not a JSON object or a broken connection into a typed error (the key scrubbed
from anything echoed back); :func:`beside` runs a sender task for as long as a block reads;
:class:`Outbox` hands items, then the end or an error, to ``async for``.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

import aiohttp

from flowagents.errors import APIError
from flowagents.plugins._http import APIKey, connection_error
from flowagents.tts.tts import SynthesizeStream
from flowagents.types import SynthesizedAudio

__all__ = ["FLUSH", "INPUT_END", "Outbox", "SharedConnection", "TaskSynthesizeStream", "beside",
           "json_messages", "stop_task"]

T = TypeVar("T")

_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
           aiohttp.WSMsgType.ERROR)
_END = object()
FLUSH, INPUT_END = object(), object()  # the markers a TaskSynthesizeStream's input carries


async def json_messages(ws: aiohttp.ClientWebSocketResponse, provider: str, key: APIKey, *,
                        what: str = "message") -> AsyncIterator[dict[str, Any]]:
    """The service's JSON objects until the socket closes (binary frames are skipped);
    ``what`` names a message in the error."""
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in _CLOSED:
                    return
                continue
            try:
                message = msg.json()
                if not isinstance(message, dict):
                    raise TypeError
            except (ValueError, TypeError):
                raise APIError(f"{provider}: malformed {what} (not a JSON object)",
                               body=key.scrub(str(msg.data)[:200])) from None
            yield message
    except (aiohttp.ClientError, TimeoutError) as e:
        raise connection_error(provider, e, key) from None


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a task and wait until it has stopped."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def beside(sender: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``sender`` as a task while the block runs; stop it when the block ends either way."""
    task = asyncio.get_running_loop().create_task(sender)
    try:
        yield task
    finally:
        await stop_task(task)


class Outbox(Generic[T]):
    """Items from a stream's task to its reader: ``put`` them, then ``end()`` or ``fail(e)``.

    Iterating yields the items in order, stops at the end, and raises the error where it came.
    """

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: T) -> None:
        self._queue.put_nowait(item)

    def end(self) -> None:
        self._queue.put_nowait(_END)

    def fail(self, error: BaseException) -> None:
        self._queue.put_nowait(_Failure(error))

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item


class SharedConnection(Generic[T]):
    """One connection that a provider's calls share on the running loop: opened on first use,
    opened again when it has died (``alive`` says so) or the loop changed; one opener at a time."""

    __slots__ = ("_alive", "_lock", "_loop", "_open", "current")

    def __init__(self, open_: Callable[[], Awaitable[T]], alive: Callable[[T], bool]) -> None:
        self._open, self._alive = open_, alive
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.current: T | None = None

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop, self.current = asyncio.Lock(), loop, None
        async with self._lock:
            if self.current is None or not self._alive(self.current):
                self.current = await self._open()
            return self.current

    def take(self) -> T | None:
        """The connection, no longer shared (to close it)."""
        current, self.current = self.current, None
        return current


class _Failure:
    """An error in the outbox (wrapped: an item could itself be an exception object)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class TaskSynthesizeStream(SynthesizeStream):
    """A synthesis stream run by one task: text, ``FLUSH`` and ``INPUT_END`` go into ``_input``
    in order, the task's audio comes out of ``_out``. A provider writes only :meth:`_run`."""

    def __init__(self) -> None:
        self._input: asyncio.Queue[Any] = asyncio.Queue()
        self._out: Outbox[SynthesizedAudio] = Outbox()
        self._task = asyncio.get_running_loop().create_task(self._run())

    @abstractmethod
    async def _run(self) -> None:
        """Talk to the service until the input ends; put audio in ``_out``, then end or fail it."""

    def push_text(self, text: str) -> None:
        if text:
            self._input.put_nowait(text)

    def flush(self) -> None:
        self._input.put_nowait(FLUSH)

    def end_input(self) -> None:
        self._input.put_nowait(INPUT_END)

    def __aiter__(self) -> AsyncIterator[SynthesizedAudio]:
        return self._out.__aiter__()

    async def aclose(self) -> None:
        await stop_task(self._task)
