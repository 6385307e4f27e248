"""LLM reply: attach to each speech the text it will say, running the tool loop for replies.

A ``say`` speech gets its given text (a string or an async iterable of pieces). A generated reply
gets an async generator bridged into an observable (disposing it cancels the LLM stream and any
tool in flight): step 0 streams the agent's ``llm_node`` over the speech's chat context; when the
model calls tools, they run (concurrently with the playout of the text that came before the
calls) through :func:`~flowagents.llm.execute_function_call`, whose errors become tool outputs.
Once that text has played and the tools are done, the round goes out on ``tools`` (the history
records the calls and outputs) and the next step asks the model again: up to ``max_tool_steps``
+ 1 rounds, then one last call with ``tool_choice="none"``. A tool returning an ``Agent`` hands
off (on ``handoff``, a feedback edge to the active agent) and ends the reply. A preemptive
speech's text starts at once and is replayed to the subscriber that comes when its turn
commits; its tools wait for the commit.
Each LLM call runs under the session's ``llm_conn_options`` (a stall times out, a failure
before the first token is retried: :mod:`nodes.reply.provider_calls`), each attempt goes out
on ``requests``; it is reported as :class:`~flowagents.metrics.LLMMetrics` and traced as an
``llm_request`` span, each tool call as a ``function_tool`` span, under the turn's span.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import Field
from reactivex import Observable
from reactivex import operators as ops

from flowagents.errors import APIConnectOptions
from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.llm import FunctionCall, RunContext, ToolExecution
from flowagents.llm import execute_function_call as run_tool
from flowagents.metrics import LLMMetrics
from flowagents.runtime.bridge import from_async_iterable
from flowagents.runtime.replay import replay_now
from flowagents.runtime.subject import LoopSubject
from flowagents.telemetry import spans
from flowagents.types import ChatChunk
from flowagents.voice.agent import Agent, ModelSettings
from flowagents.voice.options import default
from flowagents.voice.signals import ProviderRequest, ToolRound
from flowagents.voice.speech import ReplyText, Speech
from nodes.reply.provider_calls import ProviderCalls

__all__ = ["LLMReply", "LLMReplyConfig", "ReplyLoop", "reply_text"]


class LLMReplyConfig(NodeConfig):
    max_tool_steps: int = Field(default("max_tool_steps"), ge=1)
    conn_options: APIConnectOptions = Field(
        default("conn_options").llm_conn_options,
        description="each LLM call's stall timeout and retries (the session's "
                    "conn_options.llm_conn_options)")


async def _as_text(source: str | AsyncIterable[str]) -> AsyncIterator[ReplyText]:
    if isinstance(source, str):
        yield ReplyText(0, source)
    else:
        async for piece in source:
            yield ReplyText(0, piece)
    yield ReplyText(0, end_of_step=True)


async def _run_tool(call: FunctionCall, tools: Any, context: RunContext[Any]) -> ToolExecution:
    with spans.function_tool(name=call.name, call_id=call.call_id) as span:
        execution = await run_tool(call, tools, context)
        if execution.output is not None and execution.output.is_error:
            span.set_attribute("flowagents.function_tool.is_error", True)
        return execution


@dataclass(slots=True)
class _CallParts:
    """A tool call as its pieces stream in (id once, name and arguments in parts)."""

    call_id: str = ""
    name: str = ""
    arguments: str = ""


class ReplyLoop:
    """What the reply loop reads and where it reports, for one job: the clock, the metrics
    sink, and where executed tool rounds go (the history, and a handoff back to the active
    agent)."""

    __slots__ = ("calls", "max_tool_steps", "now", "report", "rounds")

    def __init__(self, now: Callable[[], float], report: Callable[[Any], None],
                 rounds: Callable[[ToolRound], None], max_tool_steps: int,
                 calls: ProviderCalls | None = None) -> None:
        self.now, self.report, self.rounds = now, report, rounds
        self.max_tool_steps = max_tool_steps
        #: each LLM call's stall timeout and retries, and where its attempts are noted
        self.calls = calls or ProviderCalls("llm", APIConnectOptions(), now, lambda r: None)


def _handoff(executions: list[ToolExecution]) -> Agent | None:
    handoff: Agent | None = None
    for execution in executions:
        result = execution.raw_result
        if isinstance(result, tuple) and result and isinstance(result[0], Agent):
            result = result[0]
        if isinstance(result, Agent):
            handoff = result
    return handoff


async def _generate(speech: Speech, loop: ReplyLoop) -> AsyncIterator[ReplyText]:
    """LiveKit's tool loop: after the first LLM call, up to ``max_tool_steps`` + 1 rounds of
    tools each followed by another call; the call after the last allowed round is made with
    ``tool_choice="none"``, so the user hears an answer, not silence."""
    agent = speech.agent
    assert agent is not None
    assert speech.chat_ctx is not None
    chat_ctx = speech.chat_ctx
    tool_choice = speech.tool_choice
    rounds = 0
    step = 0
    while True:
        speech.handle.num_steps = step + 1
        tools = agent.tools
        started = loop.now()
        first: float | None = None
        text: list[str] = []
        calls: dict[int, _CallParts] = {}
        usage = None
        request_id = ""
        provider = agent.session.llm
        label = getattr(provider, "label", "llm")
        with speech.traced(), spans.llm_request(label=label, items=len(chat_ctx.items),
                                                tools=len(tools), speech_id=speech.id) as span:
            async for chunk in loop.calls.llm(provider, chat_ctx, speech.id, partial(
                    agent.llm_node, chat_ctx, tools, ModelSettings(tool_choice))):
                delta = chunk if isinstance(chunk, str) else chunk.delta
                if isinstance(chunk, ChatChunk):
                    for piece in chunk.tool_calls:
                        call = calls.get(piece.index)
                        if call is None:
                            call = calls[piece.index] = _CallParts()
                        call.call_id = call.call_id or piece.call_id
                        call.name += piece.name
                        call.arguments += piece.arguments
                    usage = chunk.usage or usage
                    request_id = request_id or chunk.id
                if first is None and (delta or (isinstance(chunk, ChatChunk)
                                                and chunk.tool_calls)):
                    first = loop.now() - started
                if delta:
                    text.append(delta)
                    yield ReplyText(step, delta)
            if usage is not None:
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        yield ReplyText(step, end_of_step=True)
        duration = loop.now() - started
        loop.report(LLMMetrics(
            loop.now(), request_id=request_id, label=label,
            ttft=-1.0 if first is None else first, duration=duration,
            completion_tokens=usage.completion_tokens if usage else 0,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            prompt_cached_tokens=usage.cached_tokens if usage else 0,
            tokens_per_second=(usage.completion_tokens / duration if usage and duration > 0
                               else 0.0),
            speech_id=speech.id))
        if not calls or tool_choice == "none":
            return
        await speech.wait_scheduled()
        now = loop.now()
        function_calls = [FunctionCall(call_id=c.call_id or f"{speech.id}_{step}_{i}",
                                       name=c.name, arguments=c.arguments or "{}",
                                       created_at=now)
                          for i, c in sorted(calls.items())]
        with speech.traced():
            executions = list(await asyncio.gather(*(
                _run_tool(call, tools, RunContext(session=agent.session,
                                                  speech_handle=speech.handle,
                                                  function_call=call))
                for call in function_calls)))
        rounds += 1
        await speech.step_future(step)  # the text before the calls has played
        handoff = _handoff(executions)
        loop.rounds(ToolRound(speech, tuple(executions), loop.now(), handoff))
        if handoff is not None or not any(e.reply_required for e in executions):
            return
        chat_ctx = chat_ctx.copy()
        now = loop.now()
        if text:
            chat_ctx.add_message(role="assistant", content="".join(text), created_at=now)
        for execution in executions:
            chat_ctx.insert(execution.call.model_copy(update={"created_at": now}))
            if execution.output is not None:
                chat_ctx.insert(execution.output.model_copy(update={"created_at": now}))
        tool_choice = "none" if rounds > loop.max_tool_steps else "auto"
        step += 1


def reply_text(reply_loop: ReplyLoop, loop: Any = None
               ) -> Callable[[Speech], Observable[ReplyText]]:
    """The text stream of one speech (see the module docstring)."""

    def make(speech: Speech) -> Observable[ReplyText]:
        if speech.say_text is not None:
            say = speech.say_text
            return from_async_iterable(lambda: _as_text(say), loop)
        return from_async_iterable(lambda: _generate(speech, reply_loop), loop)

    return make


def _attach(make: Callable[[Speech], Observable[ReplyText]]) -> Callable[[Speech], Speech]:
    def attach(speech: Speech) -> Speech:
        if speech.text is None:
            text = make(speech)
            if not speech.scheduled:  # preemptive: start now, replay to the real subscriber
                text, connection = replay_now(text)
                speech.resources.add(connection)
            speech.text = text
        return speech

    return attach


class LLMReply(Node):
    """Attach each speech's text stream (see the module docstring). Emits the speeches."""

    Config = LLMReplyConfig
    kind = "provider"
    inputs = (In("speeches", Speech, doc="speech"),)
    outputs = (Out("speeches", Speech, doc="speech + text"),
               Out("tools", ToolRound, doc="tools executed"),
               Out("handoff", Agent, doc="handoff"),
               Out("requests", ProviderRequest, doc="LLM request"))

    shows = ("max_tool_steps",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, LLMReplyConfig)
        rounds: LoopSubject[ToolRound] = LoopSubject()
        handoffs: LoopSubject[Agent] = LoopSubject()
        requests: LoopSubject[ProviderRequest] = LoopSubject()

        def on_round(round_: ToolRound) -> None:
            rounds.on_next(round_)
            if round_.handoff is not None:
                handoffs.on_next(round_.handoff)

        report = ctx.resources.get("report_metrics") or (lambda m: None)
        calls = ProviderCalls("llm", cfg.conn_options, ctx.now, requests.on_next)
        make = reply_text(ReplyLoop(ctx.now, report, on_round, cfg.max_tool_steps, calls),
                          ctx.loop)
        return {"speeches": inputs["speeches"].pipe(ops.map(_attach(make))),
                "tools": rounds, "handoff": handoffs, "requests": requests}


