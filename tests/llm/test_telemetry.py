"""Telemetry spans: names, nesting, attributes, and no content or exception text by default."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowagents.telemetry import spans


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    monkeypatch.setattr(spans, "tracer", provider.get_tracer("flowagents"))
    yield exp
    provider.shutdown()


def test_spans_nest_and_carry_sizes_not_content(exporter: InMemorySpanExporter) -> None:
    with spans.user_turn(speech_id="s1", transcript="my card is 4111") as turn:
        with spans.llm_request(label="openai", model="gpt-4o-mini", items=3, tools=1) as llm:
            llm.set_attribute("flowagents.llm.ttft", 0.2)
        with spans.tts_request(label="piper", text="Hello there.", speech_id="s1"):
            pass
        with spans.function_tool(name="get_weather", call_id="c1", arguments='{"x": 1}'):
            pass
    finished = {s.name: s for s in exporter.get_finished_spans()}
    assert set(finished) == {"user_turn", "llm_request", "tts_request", "function_tool"}
    root = finished["user_turn"]
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id
               for n, s in finished.items() if n != "user_turn")
    assert dict(root.attributes or {}) == {
        "flowagents.speech_id": "s1", "flowagents.user.transcript_chars": 15}
    assert dict(finished["llm_request"].attributes or {}) == {
        "flowagents.provider": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "flowagents.llm.chat_items": 3, "flowagents.llm.tools": 1, "flowagents.llm.ttft": 0.2}
    assert finished["tts_request"].attributes["flowagents.tts.characters"] == 12  # type: ignore[index]
    assert "flowagents.content" not in (finished["function_tool"].attributes or {})
    assert turn.is_recording() is False  # ended


def test_content_only_when_asked(exporter: InMemorySpanExporter) -> None:
    with spans.tts_request(label="piper", text="Hi.", include_content=True):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes["flowagents.content"] == "Hi."  # type: ignore[index]


def test_errors_record_the_type_only(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), spans.function_tool(name="f", call_id="c"):
        raise RuntimeError("password=hunter2")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"  # type: ignore[index]
    assert "hunter2" not in str(span.to_json())


def test_no_op_without_an_sdk() -> None:
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        pytest.skip("an SDK tracer provider was installed globally by another test")
    with spans.llm_request(label="x") as span:
        assert not span.is_recording()


def test_spans_record_once_an_sdk_provider_is_installed_globally() -> None:
    """The module's own tracer (a proxy) starts recording when the application installs a
    provider after import, as OpenTelemetry's setup usually runs (in a fresh interpreter: the
    global provider can be set once per process)."""
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from flowagents.telemetry import spans\n"
        "before = spans.enabled()\n"
        "with spans.llm_request(label='x') as s: off = s.is_recording()\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "with spans.llm_request(label='x') as s: on = s.is_recording()\n"
        "print(before, off, spans.enabled(), on)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in os.environ.items()
                                          if not k.startswith("OTEL_")})
    assert out.stdout.split() == ["False", "False", "True", "True"]
