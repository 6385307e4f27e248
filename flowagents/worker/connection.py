"""Connecting to the server's ``/agent`` endpoint: URL, JWT, back-off and registration.

The token carries the agent grant (``VideoGrants(agent=True)``) signed with the API key and secret.
Reconnection uses tenacity: exponential back-off with jitter, at most ``max_retry`` attempts; every
attempt is a full connect + register, so the first message back must be the registration response.
Exceptions here never carry the token: aiohttp errors are replaced by :class:`ConnectError`.
"""

from __future__ import annotations

import logging
import urllib.parse

import aiohttp
from livekit.api import AccessToken, VideoGrants
from livekit.protocol import agent
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential_jitter

__all__ = ["ConnectError", "agent_ws_url", "connect_and_register", "retrying", "worker_token"]

logger = logging.getLogger("flowagents.worker")


class ConnectError(ConnectionError):
    """Connecting or registering failed (the message never contains credentials)."""


def agent_ws_url(url: str) -> str:
    """``http(s)://host`` or ``ws(s)://host`` -> ``ws(s)://host/agent``."""
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/agent"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, "", ""))


def worker_token(api_key: str, api_secret: str, ttl_seconds: int = 600) -> str:
    """A short-lived JWT with the agent grant."""
    import datetime

    return (
        AccessToken(api_key, api_secret)
        .with_grants(VideoGrants(agent=True))
        .with_ttl(datetime.timedelta(seconds=ttl_seconds))
        .to_jwt()
    )


def retrying(max_retry: int, base_delay: float, max_delay: float) -> AsyncRetrying:
    """The reconnect policy: exponential back-off with jitter, ``max_retry`` attempts."""
    return AsyncRetrying(
        stop=stop_after_attempt(max(1, max_retry)),
        wait=wait_exponential_jitter(multiplier=base_delay, max=max_delay, jitter=base_delay / 2),
        reraise=True,
    )


async def connect_and_register(
    session: aiohttp.ClientSession,
    *,
    url: str,
    api_key: str,
    api_secret: str,
    register: agent.RegisterWorkerRequest,
    register_timeout: float = 10.0,
) -> tuple[aiohttp.ClientWebSocketResponse, agent.RegisterWorkerResponse]:
    """Open the WebSocket, register, and return it with the server's answer."""
    token = worker_token(api_key, api_secret)
    try:
        ws = await session.ws_connect(
            agent_ws_url(url),
            headers={"Authorization": f"Bearer {token}"},
            heartbeat=30.0,
            timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
        )
    except aiohttp.WSServerHandshakeError as e:
        raise ConnectError(f"server refused the connection (HTTP {e.status})") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise ConnectError(f"cannot connect to the server ({type(e).__name__})") from None
    try:
        await ws.send_bytes(agent.WorkerMessage(register=register).SerializeToString())
        msg = await ws.receive(timeout=register_timeout)
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise ConnectError("expected a registration response, connection closed")
        server_msg = agent.ServerMessage.FromString(msg.data)
        if server_msg.WhichOneof("message") != "register":
            raise ConnectError("the first server message was not a registration response")
    except ConnectError:
        await ws.close()
        raise
    except Exception as e:
        await ws.close()
        raise ConnectError(f"registration failed ({type(e).__name__})") from None
    return ws, server_msg.register
