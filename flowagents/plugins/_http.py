"""What the hosted providers share: an API key, an HTTP session, failures as typed errors.

A hosted provider owns only its protocol; this module keeps the rest in one place so that each
plugin reads as its wire format. :class:`APIKey` holds a secret that no ``repr``, log line or
error text can show. :class:`HTTPSession` is one ``aiohttp.ClientSession`` per provider and event
loop, made on first use and closed by the provider's ``aclose()``. :func:`status_error` and
:func:`connection_error` turn an HTTP status, a refused WebSocket handshake, a broken connection
or a timeout into the errors of :mod:`flowagents.errors`, with a message that names the provider
and the cause and with the key scrubbed from anything the service echoed back.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from flowagents.errors import APIConnectionError, APIError, APIStatusError, APITimeoutError

__all__ = ["APIKey", "HTTPSession", "connection_error", "retry_after", "status_error",
           "timeout_for"]

_CAUSES = {
    400: "bad request",
    401: "authentication failed",
    402: "payment required",
    403: "permission denied",
    404: "not found (check the model, voice or base URL)",
    408: "request timed out",
    413: "request too large",
    422: "unprocessable request",
    429: "rate limited",
}
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "dg-request-id", "x-trace-id")
_MAX_BODY = 2000


class APIKey:
    """A provider's secret: from the argument, else the environment variable ``env``.

    ``str()`` and ``repr()`` are masked; only :meth:`reveal` gives the value, for a header.
    """

    __slots__ = ("_value", "env")

    def __init__(self, provider: str, given: str | None, env: str, *, required: bool = True
                 ) -> None:
        value = given if given is not None else os.environ.get(env)
        if required and not value:
            raise ValueError(f"{provider}: no API key: pass api_key= or set {env}")
        self._value = value or ""
        self.env = env

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def scrub(self, text: str) -> str:
        """``text`` with the key (if it occurs) replaced by ``***``."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "APIKey(***)" if self._value else "APIKey(unset)"

    __str__ = __repr__


class HTTPSession:
    """One ``aiohttp.ClientSession`` per event loop, created on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession()
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()

    def __repr__(self) -> str:
        return "HTTPSession()"


def timeout_for(seconds: float) -> aiohttp.ClientTimeout:
    """Bound connecting and each read by ``seconds``, never a whole (long) stream."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if any."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if headers.get(name):
            return headers[name]
    return None


def _service_message(body: Any) -> str:
    """The human part of an error body, as the vendors shape it."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "err_msg", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
    return "" if body is None else str(body)[:200]


def status_error(provider: str, status: int, headers: Mapping[str, str], body_text: str,
                 key: APIKey | None) -> APIStatusError:
    """An :class:`APIStatusError` for an error answer (a 401 or 400 is not retryable)."""
    text = key.scrub(body_text[:_MAX_BODY]) if key is not None else body_text[:_MAX_BODY]
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    cause = _CAUSES.get(status, "server error" if status >= 500 else "error")
    detail = _service_message(body)
    message = f"{provider}: {cause} (HTTP {status})" + (f": {detail}" if detail else "")
    return APIStatusError(message, status_code=status, request_id=_request_id(headers),
                          body=body, retry_after=retry_after(headers))


async def response_error(provider: str, resp: aiohttp.ClientResponse, key: APIKey | None
                         ) -> APIStatusError:
    """:func:`status_error` for an HTTP response (reads its body)."""
    try:
        body = await resp.text()
    except (aiohttp.ClientError, UnicodeDecodeError):
        body = ""
    return status_error(provider, resp.status, resp.headers, body, key)


def connection_error(provider: str, exc: BaseException, key: APIKey | None = None
                     ) -> APIError:
    """The typed error for an aiohttp failure, a timeout or a refused WebSocket handshake.

    The vendor exception's text is not kept (it may hold a URL with credentials); its class
    name says enough.
    """
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return status_error(provider, exc.status, exc.headers or {}, "", key)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return APITimeoutError(f"{provider}: request timed out")
    return APIConnectionError(f"{provider}: connection failed ({type(exc).__name__})")


__all__ += ["response_error"]
