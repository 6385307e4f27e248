"""Starting a child process that inherits one end of a socket pair, safely under cancellation.

``Process.start()`` blocks (forkserver hands the child's descriptors over), so it runs in a
thread. If the awaiting task is cancelled meanwhile, closing the child's socket at once would free
its descriptor number while the thread still passes it on; the number gets reused and the child
ends up with some other file ("Socket operation on non-socket"). So the socket is closed only once
``start()`` has returned, even when the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

__all__ = ["start_process"]


async def start_process(proc: Any, child_sock: socket.socket) -> None:
    """Run ``proc.start()`` off the loop, then close ``child_sock`` (the child has its copy).

    Cancellation is honoured once ``start()`` has returned: the caller must then end the process.
    """
    starting = asyncio.get_running_loop().run_in_executor(None, proc.start)
    cancelled: asyncio.CancelledError | None = None
    try:
        while not starting.done():
            try:
                await asyncio.wait([starting])
            except asyncio.CancelledError as e:  # wait for the thread; re-raise afterwards
                cancelled = e
    finally:
        child_sock.close()
    if cancelled is not None:
        with contextlib.suppress(Exception):
            starting.result()
        raise cancelled
    starting.result()
