"""LiveKit-style arguments of the wrong shape are refused when they are passed, with a message
that says what is accepted: shutdown callbacks, the worker's functions, session listeners and
agents. Each case that LiveKit accepts is accepted too."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from livekit.protocol import agent, models

from flowagents.job import JobContext, JobProcess
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, Script
from flowagents.voice import Agent
from flowagents.worker import WorkerOptions


def context() -> JobContext:
    return JobContext(job=agent.Job(id="AJ_1", room=models.Room(name="r1")), proc=JobProcess(),
                      url="ws://localhost", token="t")


def on_shutdown() -> None:
    pass


async def on_shutdown_async() -> None:
    pass


async def on_shutdown_reason(reason: str) -> None:
    pass


async def two_args(a: str, b: str) -> None:
    pass


class AsyncCallable:
    async def __call__(self, reason: str) -> None:
        pass


class Prewarm:
    def __call__(self, proc: JobProcess) -> None:
        pass


async def entrypoint(ctx: JobContext) -> None:
    pass


async def entrypoint_with_config(config: str, ctx: JobContext) -> None:
    pass


def sync_entrypoint(ctx: JobContext) -> None:
    pass


async def async_prewarm(proc: JobProcess) -> None:
    pass


SHUTDOWN = ("JobContext.add_shutdown_callback takes async def callback() or async def "
            "callback(reason: str); got ")


@pytest.mark.parametrize("callback", [
    on_shutdown_async, on_shutdown_reason, AsyncCallable(),
    functools.partial(two_args, "bound"), lambda reason: two_args("job", reason)],
    ids=["no-args", "reason", "callable", "partial", "lambda-wrapper"])
def test_shutdown_callbacks_livekit_accepts(callback: Any) -> None:
    ctx = context()
    ctx.add_shutdown_callback(callback)
    assert ctx._shutdown_callbacks == [callback]


@pytest.mark.parametrize(("callback", "why"), [
    (on_shutdown, "the plain function on_shutdown (it is awaited)"),
    (lambda a, b: two_args(a, b), "the plain function <lambda> (it is called with 0 or 1 "
                                   "arguments; this one takes 2)"),
    (two_args, "the coroutine function two_args (it is called with 0 or 1 arguments; this "
               "one takes 2)"),
    ("cleanup", "str 'cleanup' (not callable)"),
], ids=["plain", "lambda-args", "two-args", "str"])
def test_shutdown_callbacks_of_the_wrong_shape_are_refused(callback: Any, why: str) -> None:
    ctx = context()
    with pytest.raises(TypeError) as caught:
        ctx.add_shutdown_callback(callback)
    assert str(caught.value) == SHUTDOWN + why
    assert ctx._shutdown_callbacks == []


def test_worker_options_take_livekit_shapes() -> None:
    opts = WorkerOptions(entrypoint_fnc=functools.partial(entrypoint_with_config, "c"),
                         prewarm_fnc=Prewarm(), load_fnc=lambda: 0.5)
    assert opts.load_fnc is not None
    assert opts.load_fnc() == 0.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"entrypoint_fnc": sync_entrypoint},
     "WorkerOptions(entrypoint_fnc=...) takes async def entrypoint(ctx: JobContext); got the "
     "plain function sync_entrypoint (it is awaited)"),
    ({"entrypoint_fnc": entrypoint_with_config},
     "WorkerOptions(entrypoint_fnc=...) takes async def entrypoint(ctx: JobContext); got the "
     "coroutine function entrypoint_with_config (it is called with 1 argument; this one "
     "takes 2)"),
    ({"entrypoint_fnc": entrypoint, "prewarm_fnc": async_prewarm},
     "WorkerOptions(prewarm_fnc=...) takes def prewarm(proc: JobProcess) (not async); got the "
     "coroutine function async_prewarm (it is called without await, so an async function's "
     "body would never run)"),
    ({"entrypoint_fnc": entrypoint, "request_fnc": on_shutdown},
     "WorkerOptions(request_fnc=...) takes async def request_fnc(req: JobRequest); got the "
     "plain function on_shutdown (it is awaited)"),
    ({"entrypoint_fnc": entrypoint, "load_fnc": Prewarm()},
     "WorkerOptions(load_fnc=...) takes def load_fnc() -> float (not async); got the plain "
     "function Prewarm (it is called with 0 arguments; this one takes 1)"),
], ids=["sync-entrypoint", "entrypoint-args", "async-prewarm", "sync-request", "load-args"])
def test_worker_options_of_the_wrong_shape_are_refused(kwargs: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(TypeError) as caught:
        WorkerOptions(**kwargs)
    assert str(caught.value) == message


def session() -> AgentSession:
    script = Script()
    return AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                        tts=FakeTTS(script))


def test_session_listeners() -> None:
    s = session()
    seen: list[Any] = []
    s.on("error", seen.append)

    @s.on("close")
    async def closed(ev: Any) -> None:
        seen.append(ev)

    with pytest.raises(ValueError, match=r"^AgentSession.on: no event 'agent_speech_started'; "
                                         r"the session emits agent_false_interruption, "
                                         r"agent_state_changed, close, "):
        s.on("agent_speech_started", seen.append)
    with pytest.raises(TypeError, match=r"^AgentSession.on\('error'\) takes def callback\(event\)"
                                        r" or async def callback\(event\); got the plain "
                                        r"function <lambda> \(it is called with 1 argument; "
                                        r"this one takes 0\)$"):
        s.on("error", lambda: None)


def test_the_agent_class_instead_of_an_agent() -> None:
    s = session()

    class Helper(Agent):
        def __init__(self) -> None:
            super().__init__(instructions="Help.")

    with pytest.raises(TypeError, match=r"^AgentSession.start\(agent=...\) takes an Agent "
                                        r"instance: Helper\(\), not the class$"):
        asyncio.run(s.start(Helper))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^AgentSession.update_agent takes an Agent instance, "
                                        r"not str$"):
        s.update_agent("sales")  # type: ignore[arg-type]


def test_session_arguments_of_the_wrong_type() -> None:
    script = Script()
    with pytest.raises(TypeError, match=r"^AgentSession\(vad=...\) takes a provider instance: "
                                        r"FakeVAD\(\), not the class$"):
        AgentSession(vad=FakeVAD, stt=FakeSTT(script))  # type: ignore[arg-type]
    s = session()
    with pytest.raises(TypeError, match=r"^AgentSession.say takes a str or an async iterable "
                                        r"of str, not int$"):
        s.say(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^AgentSession.generate_reply\(user_input=...\) takes "
                                        r"a str, not list$"):
        s.generate_reply(user_input=["hello"])  # type: ignore[arg-type]
