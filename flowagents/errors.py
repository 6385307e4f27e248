"""Typed provider errors and connection options, shared by every provider and fallback adapter.

Vendors fail in many ways; flowagents maps them to four errors so that retries and fallbacks decide
without parsing strings (LiveKit Agents' taxonomy). Raise them ``from None`` so a vendor's traceback
(which may hold a request with credentials) does not travel with them, and never put a secret in
the message.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "APIConnectOptions",
    "NotGiven",
]


class NotGiven:
    """The type of :data:`NOT_GIVEN`: an option left unset, as distinct from an explicit None."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


class APIError(Exception):
    """A provider call failed. ``retryable`` says whether the same call may succeed if repeated."""

    def __init__(self, message: str, *, body: Any = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.body = body
        self.retryable = retryable


class APIStatusError(APIError):
    """The service answered with an error status. 4xx other than 408/429 are not retryable.

    ``retry_after`` is the wait in seconds the service asked for (a 429's ``Retry-After``): a
    retry waits at least that long."""

    def __init__(self, message: str, *, status_code: int = -1, request_id: str | None = None,
                 body: Any = None, retryable: bool | None = None,
                 retry_after: float | None = None) -> None:
        if retryable is None:
            retryable = not (400 <= status_code < 500) or status_code in (408, 429)
        super().__init__(message, body=body, retryable=retryable)
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} (status_code={self.status_code}, request_id={self.request_id})"


class APIConnectionError(APIError):
    """The service could not be reached, or the connection broke mid-stream."""

    def __init__(self, message: str = "connection error", *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class APITimeoutError(APIConnectionError):
    """The service did not answer in time."""

    def __init__(self, message: str = "request timed out", *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class APIConnectOptions(BaseModel):
    """How hard to try a provider call: ``max_retry`` retries ``retry_interval`` s apart, each
    attempt bounded by ``timeout`` s. Defaults follow LiveKit Agents (3, 2.0 s, 10 s)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_retry: int = Field(default=3, ge=0)
    retry_interval: float = Field(default=2.0, ge=0)
    timeout: float = Field(default=10.0, gt=0)

    def once(self) -> APIConnectOptions:
        """One attempt under the same timeout: what a caller that runs the retries itself
        passes to a provider (which would otherwise retry inside each of its attempts)."""
        return self.model_copy(update={"max_retry": 0})

    def interval_for(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based): the first retry is immediate."""
        return 0.0 if attempt == 0 else self.retry_interval


DEFAULT_API_CONNECT_OPTIONS: Final = APIConnectOptions()
__all__ += ["DEFAULT_API_CONNECT_OPTIONS"]
