"""Realtime reply: each speech's audio from the realtime model, and its cut where playout stopped.

The speech-to-speech counterpart of the LLM and TTS nodes: for each speech the turn reply
creates, :class:`RealtimeReply` asks the job's realtime session for a response and attaches it
as the speech's audio. Each transcript delta opens a segment of the text to show (so playout
syncs the transcription and cuts the history word by word), the audio after it belongs to it.
Disposing the audio (an interruption, a newer turn) closes the response stream, which cancels
the response. :class:`RealtimeTruncate` watches playout: when a step of a realtime speech ends
interrupted, it tells the model how much of that item was played, so the model's memory of the
conversation holds what the user heard. A ``say`` becomes a response told to say the text.
Each response is reported as :class:`~flowagents.metrics.LLMMetrics` (first audio as TTFT, and
the usage).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import reactivex
from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, In, Node, Out
from flowagents.llm.realtime import RealtimeLink, realtime_link
from flowagents.metrics import LLMMetrics
from flowagents.runtime.bridge import from_async_iterable, from_coroutine
from flowagents.types import TokenUsage
from flowagents.voice.signals import PlaybackEvent, ToolRound
from flowagents.voice.speech import AgentAudio, Speech

__all__ = ["RealtimeReply", "RealtimeTruncate"]


async def _audio(speech: Speech, link: RealtimeLink, now: Any, report: Any,
                 label: str) -> AsyncIterator[AgentAudio]:
    instructions = None
    if speech.say_text is not None:
        text = speech.say_text
        if not isinstance(text, str):
            text = "".join([piece async for piece in text])
        instructions = f"Say exactly this, and nothing else: {text}"
    started, first = now(), None
    usage: TokenUsage | None = None
    open_segment = False
    async for out in link.session.generate_reply(instructions=instructions):
        if out.text:
            if open_segment:
                yield AgentAudio(None, 0, end_of_segment=True)
            yield AgentAudio(None, 0, text=out.text)
            open_segment = True
        if out.audio is not None:
            if first is None:
                first = now() - started
            link.items[speech.id] = out.item_id
            yield AgentAudio(out.audio, 0)
        usage = out.usage or usage
    if open_segment:
        yield AgentAudio(None, 0, end_of_segment=True)
    yield AgentAudio(None, 0, end_of_step=True)
    report(LLMMetrics(now(), label=label, ttft=-1.0 if first is None else first,
                      duration=now() - started,
                      completion_tokens=usage.completion_tokens if usage else 0,
                      prompt_tokens=usage.prompt_tokens if usage else 0, speech_id=speech.id))


class RealtimeReply(Node):
    """Attach each speech's audio from the realtime model (see the module docstring)."""

    kind = "provider"
    inputs = (In("speeches", Speech),)
    outputs = (Out("speeches", Speech), Out("tools", ToolRound, doc="tools executed"))

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        report = ctx.resources.get("report_metrics") or (lambda m: None)
        label = getattr(ctx.resources.get("llm"), "label", "realtime")

        def attach(speech: Speech) -> Speech:
            if speech.audio is None:
                link = realtime_link(ctx.resources)
                speech.audio = from_async_iterable(
                    lambda: _audio(speech, link, ctx.now, report, label), ctx.loop)
            return speech

        # no tool rounds yet: the model's tool calls are not run (a second subscription to the
        # speeches would build every speech twice)
        return {"speeches": inputs["speeches"].pipe(ops.map(attach)), "tools": reactivex.never()}


class RealtimeTruncate(Node):
    """Truncate the model's item where an interrupted realtime speech stopped playing."""

    inputs = (In("playback", PlaybackEvent),)
    outputs = (Out("truncations", PlaybackEvent, doc="step cut"),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        def cut(event: PlaybackEvent) -> Observable[PlaybackEvent]:
            link = realtime_link(ctx.resources)
            step = event.step
            item = link.items.pop(event.speech.id, None)
            assert step is not None
            assert item is not None

            async def truncate() -> PlaybackEvent:
                await link.session.truncate(item, step.position)
                return event

            return from_coroutine(truncate, ctx.loop)

        def wanted(event: PlaybackEvent) -> bool:
            if event.kind == "done":
                realtime_link(ctx.resources).items.pop(event.speech.id, None)
                return False
            return (event.kind == "step_done" and event.step is not None
                    and event.step.interrupted
                    and event.speech.id in realtime_link(ctx.resources).items)

        return {"truncations": inputs["playback"].pipe(ops.filter(wanted),
                                                       ops.flat_map(cut))}
