"""LLM reply: attach to each speech the text it will say, running the tool loop for replies.

A ``say`` speech gets its given text (a string or an async iterable of pieces). A generated reply
gets an async generator bridged into an observable (disposing it cancels the LLM stream and any
tool in flight): step 0 streams the agent's ``llm_node`` over the speech's chat context; when the
model calls tools, they run (concurrently with the playout of the text that came before the
calls) through :func:`~flowagents.llm.execute_function_call`, whose errors become tool outputs.
Once that text has played and the tools are done, the session records the calls and outputs and
the next step asks the model again, at most ``max_tool_steps`` LLM calls per reply. A tool
returning an ``Agent`` hands off and ends the reply. A preemptive speech's text starts at once and
is replayed to the subscriber that comes when its turn commits; its tools wait for the commit.
Each LLM call is reported as :class:`~flowagents.metrics.LLMMetrics` and traced as an
``llm_request`` span, each tool call as a ``function_tool`` span, under the turn's span.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field
from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.llm import FunctionCall, RunContext, ToolExecution
from flowagents.llm import execute_function_call as run_tool
from flowagents.metrics import LLMMetrics
from flowagents.runtime.bridge import from_async_iterable
from flowagents.runtime.replay import replay_now
from flowagents.telemetry import spans
from flowagents.types import ChatChunk
from flowagents.voice.agent import ModelSettings
from flowagents.voice.speech import ReplyText, Speech, StepResult

if TYPE_CHECKING:
    from flowagents.voice.agent import Agent

__all__ = ["LLMReply", "LLMReplyConfig", "ReplySession", "reply_text"]


class ReplySession(Protocol):
    """What the reply loop needs from the session (``AgentSession`` implements it)."""

    def now(self) -> float: ...

    def report_metrics(self, metrics: Any) -> None: ...

    def tools_started(self) -> None: ...

    def tools_executed(self, speech: Speech, step: StepResult,
                       executions: list[ToolExecution]) -> Agent | None: ...


class LLMReplyConfig(NodeConfig):
    max_tool_steps: int = Field(3, ge=1)


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


async def _generate(speech: Speech, session: ReplySession, max_steps: int
                    ) -> AsyncIterator[ReplyText]:
    agent = speech.agent
    assert agent is not None
    assert speech.chat_ctx is not None
    chat_ctx = speech.chat_ctx
    tool_choice = speech.tool_choice
    for step in range(max_steps):
        speech.handle.num_steps = step + 1
        tools = agent.tools
        started = session.now()
        first: float | None = None
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = None
        label = getattr(agent.session.llm, "label", "llm")
        with speech.traced(), spans.llm_request(label=label, items=len(chat_ctx.items),
                                                tools=len(tools), speech_id=speech.id) as span:
            async for chunk in agent.llm_node(chat_ctx, tools, ModelSettings(tool_choice)):
                delta = chunk if isinstance(chunk, str) else chunk.delta
                if isinstance(chunk, ChatChunk):
                    for piece in chunk.tool_calls:
                        call = calls.setdefault(piece.index, {"id": "", "name": "", "args": ""})
                        call["id"] = call["id"] or piece.call_id
                        call["name"] += piece.name
                        call["args"] += piece.arguments
                    usage = chunk.usage or usage
                if first is None and (delta or (isinstance(chunk, ChatChunk)
                                                and chunk.tool_calls)):
                    first = session.now() - started
                if delta:
                    text.append(delta)
                    yield ReplyText(step, delta)
            if usage is not None:
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        yield ReplyText(step, end_of_step=True)
        duration = session.now() - started
        session.report_metrics(LLMMetrics(
            session.now(), label=label, ttft=-1.0 if first is None else first, duration=duration,
            completion_tokens=usage.completion_tokens if usage else 0,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            prompt_cached_tokens=usage.cached_tokens if usage else 0,
            tokens_per_second=(usage.completion_tokens / duration if usage and duration > 0
                               else 0.0),
            speech_id=speech.id))
        if not calls:
            return
        await speech.wait_scheduled()
        now = session.now()
        function_calls = [FunctionCall(call_id=c["id"] or f"{speech.id}_{step}_{i}",
                                       name=c["name"], arguments=c["args"] or "{}",
                                       created_at=now)
                          for i, c in sorted(calls.items())]
        session.tools_started()
        with speech.traced():
            executions = list(await asyncio.gather(*(
                _run_tool(call, tools, RunContext(session=agent.session,
                                                  speech_handle=speech.handle,
                                                  function_call=call))
                for call in function_calls)))
        played = await speech.step_future(step)
        handoff = session.tools_executed(speech, played, executions)
        if handoff is not None or not any(e.reply_required for e in executions):
            return
        if step + 1 >= max_steps:
            return
        chat_ctx = chat_ctx.copy()
        now = session.now()
        if text:
            chat_ctx.add_message(role="assistant", content="".join(text), created_at=now)
        for execution in executions:
            chat_ctx.insert(execution.call.model_copy(update={"created_at": now}))
            if execution.output is not None:
                chat_ctx.insert(execution.output.model_copy(update={"created_at": now}))
        tool_choice = "auto"


def reply_text(session: ReplySession, *, max_tool_steps: int = 3, loop: Any = None
               ) -> Callable[[Speech], Observable[ReplyText]]:
    """The text stream of one speech (see the module docstring)."""

    def make(speech: Speech) -> Observable[ReplyText]:
        if speech.say_text is not None:
            say = speech.say_text
            return from_async_iterable(lambda: _as_text(say), loop)
        return from_async_iterable(lambda: _generate(speech, session, max_tool_steps), loop)

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
    inputs = (In("speeches", Speech),)
    outputs = (Out("speeches", Speech),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, LLMReplyConfig)
        session: ReplySession = ctx.resources["session"]
        make = reply_text(session, max_tool_steps=cfg.max_tool_steps, loop=ctx.loop)
        return {"speeches": inputs["speeches"].pipe(ops.map(_attach(make)))}


