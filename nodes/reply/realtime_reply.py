"""Realtime reply: each speech's audio from the realtime model, and its cut where playout stopped.

The speech-to-speech counterpart of the LLM and TTS nodes: for each speech the turn reply
creates, :class:`RealtimeReply` asks the job's realtime session for a response and attaches it
as the speech's audio. Each transcript delta opens a segment of the text to show (so playout
syncs the transcription and cuts the history word by word), the audio after it belongs to it.
Disposing the audio (an interruption, a newer turn) closes the response stream, which cancels
the response. :class:`RealtimeTruncate` watches playout: when a step of a realtime speech ends
interrupted, it tells the model how much of that item was played, so the model's memory of the
conversation holds what the user heard. A ``say`` becomes a response told to say the text.
When a response calls tools, they run (as the LLM reply runs them), the round is recorded once
the audio before it has played, their outputs go back to the model and the next response is
the speech's next step (at most ``max_tool_steps`` rounds).
Each response is reported as :class:`~flowagents.metrics.LLMMetrics` (first audio as TTFT, and
the usage).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import Subject

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.llm import FunctionCall, RunContext, execute_function_call
from flowagents.llm.realtime import RealtimeLink, realtime_link
from flowagents.metrics import LLMMetrics
from flowagents.runtime.bridge import from_async_iterable, from_coroutine
from flowagents.types import TokenUsage
from flowagents.voice.signals import PlaybackEvent, ToolRound
from flowagents.voice.speech import AgentAudio, Speech

__all__ = ["RealtimeReply", "RealtimeTruncate"]


class _Reply:
    """What a realtime reply reads and where it reports, for one job."""

    __slots__ = ("label", "now", "report", "rounds")

    def __init__(self, now: Callable[[], float], report: Callable[[Any], None],
                 rounds: Callable[[ToolRound], None], label: str) -> None:
        self.now, self.report, self.rounds, self.label = now, report, rounds, label


async def _audio(speech: Speech, link: RealtimeLink, reply: _Reply,
                 max_tool_steps: int) -> AsyncIterator[AgentAudio]:
    """The speech's audio, step by step: a response, then (if it called tools) the tools run,
    their outputs go back to the model, and the next response is the next step."""
    instructions = None
    if speech.say_text is not None:
        text = speech.say_text
        if not isinstance(text, str):
            text = "".join([piece async for piece in text])
        instructions = f"Say exactly this, and nothing else: {text}"
    else:
        instructions = _extra_instructions(speech)
    now = reply.now
    for step in range(max_tool_steps + 1):
        started, first = now(), None
        usage: TokenUsage | None = None
        calls: list[FunctionCall] = []
        open_segment = False
        async for out in link.session.generate_reply(instructions=instructions):
            if out.text:
                if open_segment:
                    yield AgentAudio(None, step, end_of_segment=True)
                yield AgentAudio(None, step, text=out.text)
                open_segment = True
            if out.audio is not None:
                if first is None:
                    first = now() - started
                link.items[speech.id] = out.item_id
                yield AgentAudio(out.audio, step)
            if out.name:
                calls.append(FunctionCall(call_id=out.call_id, name=out.name,
                                          arguments=out.arguments or "{}", created_at=now()))
            usage = out.usage or usage
        if open_segment:
            yield AgentAudio(None, step, end_of_segment=True)
        yield AgentAudio(None, step, end_of_step=True)
        reply.report(LLMMetrics(now(), label=reply.label, ttft=-1.0 if first is None else first,
                                duration=now() - started,
                                completion_tokens=usage.completion_tokens if usage else 0,
                                prompt_tokens=usage.prompt_tokens if usage else 0,
                                speech_id=speech.id))
        agent = speech.agent
        if not calls or agent is None:
            return
        executions = list(await asyncio.gather(*(
            execute_function_call(call, agent.tools, RunContext(
                session=agent.session, speech_handle=speech.handle, function_call=call))
            for call in calls)))
        await speech.step_future(step)  # what was said before the calls has played
        reply.rounds(ToolRound(speech, tuple(executions), now()))
        await link.session.tool_outputs([e.output for e in executions if e.output is not None])
        if not any(e.reply_required for e in executions):
            return
        instructions = None


def _extra_instructions(speech: Speech) -> str | None:
    """``generate_reply(instructions=...)``: the context ends with them as a system message
    after the agent's own (the model has the agent's instructions already; these are for this
    response only, as LiveKit sends them)."""
    items = speech.chat_ctx.items if speech.chat_ctx is not None else []
    if len(items) > 1 and items[-1].type == "message" and items[-1].role == "system":
        return items[-1].text_content
    return None


class RealtimeReplyConfig(NodeConfig):
    max_tool_steps: int = Field(3, ge=0, description="tool rounds per reply")


class RealtimeReply(Node):
    """Attach each speech's audio from the realtime model (see the module docstring)."""

    Config = RealtimeReplyConfig
    kind = "provider"
    inputs = (In("speeches", Speech),)
    outputs = (Out("speeches", Speech), Out("tools", ToolRound, doc="tools executed"))

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, RealtimeReplyConfig)
        rounds: Subject[ToolRound] = Subject()
        reply = _Reply(ctx.now, ctx.resources.get("report_metrics") or (lambda m: None),
                       rounds.on_next, getattr(ctx.resources.get("llm"), "label", "realtime"))

        def attach(speech: Speech) -> Speech:
            if speech.audio is None:
                link = realtime_link(ctx.resources)
                speech.audio = from_async_iterable(
                    lambda: _audio(speech, link, reply, cfg.max_tool_steps), ctx.loop)
            return speech

        return {"speeches": inputs["speeches"].pipe(ops.map(attach)), "tools": rounds}


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
