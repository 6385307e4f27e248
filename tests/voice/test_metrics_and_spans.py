"""Scenarios: VAD metrics once per second of audio, and the OpenTelemetry spans of a turn with a
tool (user_turn, then llm_request, tts_request, function_tool, ... under it), no content."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowagents.llm import function_tool
from flowagents.metrics import VADMetrics
from flowagents.telemetry import spans
from flowagents.testing import FakeToolCall, Script
from flowagents.voice import Agent

from .conftest import approx, run


def test_vad_metrics_once_per_second_of_audio() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5)  # noise: VAD only
    r = run(s, duration=4.5)
    vad = [m for m in r.metrics if isinstance(m, VADMetrics)]
    # 10 ms frames from 0.0: one record per 100 frames, stamped with the window's end
    assert [round(m.timestamp, 6) for m in vad] == [1.0, 2.0, 3.0, 4.0]
    assert all(m.inference_count == 100 and m.label == "fake-vad" for m in vad)
    # silence heard: 0.0-0.55 (speech starts at 0.5, reported at 0.55), then from 3.05 (the
    # end at 2.5, reported at 3.05)
    assert [m.idle_time for m in vad] == [approx(0.55), approx(0.0), approx(0.0), approx(0.95)]
    assert all(m.inference_duration_total >= 0.0 for m in vad)


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    monkeypatch.setattr(spans, "tracer", provider.get_tracer("flowagents"))
    yield exp
    provider.shutdown()


class Weather(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You tell the weather.")

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Get the weather.

        Args:
            location: the city
        """
        await asyncio.sleep(1.0)
        return f"sunny in {location}"


Q = "What's the weather in Paris?"


def test_a_turn_with_a_tool_is_traced_in_order_without_content(
        exporter: InMemorySpanExporter) -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=Q)
    s.llm_reply(input=Q, content="Let me check.",
                tool_calls=[FakeToolCall("get_weather", {"location": "Paris"})])
    s.tts_audio(input="Let me check.", audio_duration=1.0)
    s.llm_reply(input="sunny in Paris", content="It is sunny in Paris.")
    s.tts_audio(input="It is sunny in Paris.", audio_duration=1.5)
    r = run(s, agent=Weather(), options={"preemptive_generation": False})
    finished = sorted(exporter.get_finished_spans(), key=lambda sp: sp.start_time or 0)
    # times on the virtual clock: LLM 3.05-3.35, TTS 3.35-3.65 (audio 3.55-4.55), tool
    # 3.35-4.35, follow-up LLM 4.55-4.85, its TTS 4.85-5.15
    assert [sp.name for sp in finished] == [
        "user_turn", "llm_request", "tts_request", "function_tool", "llm_request",
        "tts_request"]
    root = finished[0]
    assert all(sp.parent is not None and sp.parent.span_id == root.context.span_id
               for sp in finished[1:])
    (speech,) = r.of_type("speech_created")
    assert root.attributes is not None
    assert root.attributes["flowagents.speech_id"] == speech.event.speech_handle.id
    assert root.attributes["flowagents.user.transcript_chars"] == len(Q)
    assert finished[3].attributes is not None
    assert finished[3].attributes["flowagents.function_tool.name"] == "get_weather"
    for sp in finished:
        attributes = dict(sp.attributes or {})
        assert "flowagents.content" not in attributes
        assert not any(Q in str(v) or "Paris" in str(v) for v in attributes.values())
    # the turn's span lasts until its reply has played
    assert (root.end_time or 0) >= max(sp.end_time or 0 for sp in finished[1:])
