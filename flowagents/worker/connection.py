"""Connecting to the server's ``/agent`` endpoint: URL, JWT, back-off and registration.

The token carries the agent grant (``VideoGrants(agent=True)``) signed with the API key and secret.
Reconnection uses tenacity: exponential back-off with jitter, at most ``max_retry`` attempts; every
attempt is a full connect + register, so the first message back must be the registration response.
The handshake and the registration each have ``step_timeout``, so a server that accepts TCP and
never answers costs seconds, not aiohttp's 5-minute default. A 401 or 403 at the upgrade is an
:class:`AuthError`: wrong credentials do not heal by retrying, so it is never retried. Exceptions
here never carry the token: aiohttp errors are replaced by :class:`ConnectError`, which names the
URL tried (without any user info or query string).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse

import aiohttp
from livekit.api import AccessToken, VideoGrants
from livekit.protocol import agent
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

__all__ = ["AuthError", "ConnectError", "agent_ws_url", "connect_and_register", "public_url",
           "retrying", "worker_token"]

logger = logging.getLogger("flowagents.worker")


class ConnectError(ConnectionError):
    """Connecting or registering failed (the message never contains credentials)."""


class AuthError(ConnectError):
    """The server refused the credentials (HTTP 401/403): fatal, never retried."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def public_url(url: str) -> str:
    """``url`` as it may be shown: no ``user:password@`` and no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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
    """The reconnect policy: exponential back-off with jitter, ``max_retry`` attempts.

    Only :class:`ConnectError` is retried, and never an :class:`AuthError`.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(max(1, max_retry)),
        wait=wait_exponential_jitter(multiplier=base_delay, max=max_delay, jitter=base_delay / 2),
        retry=retry_if_exception_type(ConnectError) & retry_if_not_exception_type(AuthError),
        reraise=True,
    )


async def connect_and_register(
    session: aiohttp.ClientSession,
    *,
    url: str,
    api_key: str,
    api_secret: str,
    register: agent.RegisterWorkerRequest,
    step_timeout: float = 10.0,
) -> tuple[aiohttp.ClientWebSocketResponse, agent.RegisterWorkerResponse]:
    """Open the WebSocket, register, and return it with the server's answer.

    The handshake and the registration each get ``step_timeout`` seconds.
    """
    token = worker_token(api_key, api_secret)
    target = agent_ws_url(url)
    shown = public_url(target)
    try:
        async with asyncio.timeout(step_timeout):
            ws = await session.ws_connect(
                target,
                headers={"Authorization": f"Bearer {token}"},
                heartbeat=30.0,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            )
    except aiohttp.WSServerHandshakeError as e:
        if e.status in (401, 403):
            raise AuthError(f"the server refused the worker's credentials (HTTP {e.status}) at "
                            f"{shown}: check the API key and secret", e.status) from None
        raise ConnectError(f"the server refused the connection (HTTP {e.status}) at {shown}") \
            from None
    except TimeoutError:
        raise ConnectError(f"the WebSocket handshake timed out after {step_timeout:g} s "
                           f"at {shown}") from None
    except (aiohttp.ClientError, OSError) as e:
        raise ConnectError(f"cannot connect to the server at {shown} ({type(e).__name__})") \
            from None
    try:
        await ws.send_bytes(agent.WorkerMessage(register=register).SerializeToString())
        msg = await ws.receive(timeout=step_timeout)
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise ConnectError(f"expected a registration response from {shown}, "
                               "the connection closed")
        server_msg = agent.ServerMessage.FromString(msg.data)
        if server_msg.WhichOneof("message") != "register":
            raise ConnectError(f"the first message from {shown} was not a registration response")
    except ConnectError:
        await ws.close()
        raise
    except Exception as e:
        await ws.close()
        raise ConnectError(f"registration at {shown} failed ({type(e).__name__})") from None
    return ws, server_msg.register
