"""OpenTelemetry spans for a voice turn: the user's turn, LLM requests, TTS requests, tool calls.

Built on ``opentelemetry-api`` only, so every span is a no-op until the application installs an
SDK tracer provider. Spans carry sizes, labels, ids and outcomes, never content: prompts,
transcripts, tool arguments and exception messages can hold personal data or secrets, so they are
not recorded unless ``include_content=True`` is passed explicitly, and exceptions are recorded by
type only. Each helper is a context manager yielding the span, so the caller can add attributes
(token usage, time to first token) once they are known. Without an SDK a helper hands back one
shared no-op context at the cost of two checks: a reply opens several spans between the end of
speech and its first audio.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

__all__ = [
    "ATTR_CALL_ID",
    "ATTR_CHARACTERS",
    "ATTR_CONTENT",
    "ATTR_ERROR_TYPE",
    "ATTR_FUNCTION_NAME",
    "ATTR_LABEL",
    "ATTR_MODEL",
    "ATTR_SPEECH_ID",
    "function_tool",
    "llm_request",
    "enabled",
    "set_error",
    "start_user_turn",
    "tracer",
    "tts_request",
    "user_turn",
]

tracer = trace.get_tracer("flowagents")

ATTR_SPEECH_ID = "flowagents.speech_id"
ATTR_LABEL = "flowagents.provider"
ATTR_MODEL = "gen_ai.request.model"
ATTR_CHARACTERS = "flowagents.tts.characters"
ATTR_FUNCTION_NAME = "flowagents.function_tool.name"
ATTR_CALL_ID = "flowagents.function_tool.call_id"
ATTR_CONTENT = "flowagents.content"
ATTR_ERROR_TYPE = "error.type"


_DISABLED: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)


def enabled() -> bool:
    """Whether spans are recorded: an SDK tracer provider is installed (or ``tracer`` replaced).

    Reads the API's global provider slot when it has one: ``get_tracer_provider()`` looks up an
    environment variable per call while none is set (a raised and caught KeyError), which costs
    more than the no-op span it would spare."""
    if not isinstance(tracer, trace.ProxyTracer):
        return True
    installed = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
    if installed is _UNKNOWN or (installed is None and _PROVIDER_FROM_ENV):
        # another opentelemetry-api layout, or a provider the API loads on first use: the
        # public, slower check
        return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return installed is not None


_UNKNOWN = object()
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def set_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed with the exception's type only (its message may hold secrets)."""
    span.set_attribute(ATTR_ERROR_TYPE, type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


@contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Span]:
    attrs = {k: v for k, v in attributes.items() if v is not None}
    # what ``start_as_current_span`` does, minus its nested context managers and the context
    # switch when no SDK is installed (the no-op tracer's span is invalid): a reply opens these
    # on the path from the end of speech to the first audio
    span = tracer.start_span(name, attributes=attrs, record_exception=False,
                             set_status_on_exception=False)
    if not span.get_span_context().is_valid:
        yield span
        return
    with trace.use_span(span, end_on_exit=True, record_exception=False,
                        set_status_on_exception=False):
        try:
            yield span
        except BaseException as e:
            set_error(span, e)
            raise


def _turn_attributes(speech_id: str | None, transcript: str | None,
                     include_content: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {ATTR_SPEECH_ID: speech_id}
    if transcript is not None:
        attrs["flowagents.user.transcript_chars"] = len(transcript)
        if include_content:
            attrs[ATTR_CONTENT] = transcript
    return attrs


def user_turn(*, speech_id: str | None = None, transcript: str | None = None,
              include_content: bool = False) -> AbstractContextManager[Span]:
    """From the committed user turn to the end of the agent's reply (parent of the others)."""
    if not enabled():
        return _DISABLED
    return _span("user_turn", _turn_attributes(speech_id, transcript, include_content))


def start_user_turn(*, speech_id: str | None = None, transcript: str | None = None,
                    include_content: bool = False) -> Span | None:
    """A started ``user_turn`` span that the caller ends (a turn ends in a callback, not in the
    block that began it), or None without an SDK. It is not made current: work under the turn
    attaches it explicitly."""
    if not enabled():
        return None
    attrs = _turn_attributes(speech_id, transcript, include_content)
    return tracer.start_span("user_turn", attributes={k: v for k, v in attrs.items()
                                                      if v is not None},
                             record_exception=False, set_status_on_exception=False)


def llm_request(*, label: str, model: str = "", items: int | None = None,
                tools: int | None = None, speech_id: str | None = None
                ) -> AbstractContextManager[Span]:
    """One LLM request: the provider, model, history size and tool count, not the prompt."""
    if not enabled():
        return _DISABLED
    return _span("llm_request", {
        ATTR_LABEL: label, ATTR_MODEL: model or None, ATTR_SPEECH_ID: speech_id,
        "flowagents.llm.chat_items": items, "flowagents.llm.tools": tools,
    })


def tts_request(*, label: str, text: str | None = None, speech_id: str | None = None,
                include_content: bool = False) -> AbstractContextManager[Span]:
    """One TTS request: the provider and the number of characters voiced."""
    if not enabled():
        return _DISABLED
    attrs: dict[str, Any] = {ATTR_LABEL: label, ATTR_SPEECH_ID: speech_id,
                             ATTR_CHARACTERS: None if text is None else len(text)}
    if include_content and text is not None:
        attrs[ATTR_CONTENT] = text
    return _span("tts_request", attrs)


def function_tool(*, name: str, call_id: str, arguments: str | None = None,
                  include_content: bool = False) -> AbstractContextManager[Span]:
    """One tool execution. Set ``is_error`` when the tool's output is an error for the model."""
    if not enabled():
        return _DISABLED
    attrs: dict[str, Any] = {ATTR_FUNCTION_NAME: name, ATTR_CALL_ID: call_id}
    if include_content and arguments is not None:
        attrs[ATTR_CONTENT] = arguments
    return _span("function_tool", attrs)
