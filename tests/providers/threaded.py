"""Serve a local provider server on its own thread and loop, for code that runs elsewhere.

The provider tests share their loop with the server (so virtual time holds); an agent started
by a worker runs on another loop or in another process, so it needs a server that runs on its
own. ``with serve_in_thread(OpenAIServer()) as url:`` yields the base URL to point it at.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .base import LocalServer

__all__ = ["serve_in_thread"]


@contextmanager
def serve_in_thread(server: LocalServer) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"{server.provider}-server",
                              daemon=True)
    thread.start()
    try:
        url = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        try:
            yield url
        finally:
            asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
