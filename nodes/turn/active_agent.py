"""Active agent: which agent is in charge, the turn options in force, and the handoffs.

An agent becomes active when the session starts it (or ``update_agent``), on the ``agents``
input, or when one of the reply's tools hands the conversation to it, on the ``handoffs``
feedback edge from the LLM reply. A handoff runs LiveKit's sequence: the old agent's
``on_exit``, an :class:`~flowagents.llm.AgentHandoff` item in the history, the new agent gets
what the old one recorded after the context it was built from (``chat_ctx=self.chat_ctx`` in a
handoff tool), it is in charge, then its ``on_enter`` runs (the greeting).

Turn options are per agent (LiveKit's ``Agent(min_endpointing_delay=..., ...)`` overrides the
session's): the node resolves them from its ``defaults`` (the session's
:class:`~flowagents.voice.options.SessionOptions`) and streams them to the rules, so every rule
reads the values in force when it applies: ``agent`` (an
:class:`~flowagents.voice.signals.ActiveAgent`), ``turn``
(:class:`~flowagents.voice.options.TurnOptions`) and ``endpointing`` (an
:class:`~nodes.turn.endpointing.EndpointingConfig` with the delays and the detector's threshold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, NodeError, Out, register_type
from flowagents.llm import AgentHandoff, ChatItem
from flowagents.runtime.bridge import Dispose, from_coroutine
from flowagents.runtime.subject import LoopSubject
from flowagents.voice.agent import Agent
from flowagents.voice.options import SessionOptions, TurnOptions, turn_options
from flowagents.voice.signals import ActiveAgent
from flowagents.voice.turn_detector import TurnDetector
from nodes.turn.endpointing import EndpointingConfig

__all__ = ["ActiveAgentConfig", "ActiveAgentNode", "continue_context", "endpointing_config"]

for _t in (ActiveAgent, TurnOptions, EndpointingConfig, Agent):
    register_type(_t)


def endpointing_config(options: TurnOptions) -> EndpointingConfig:
    """The endpointing rule's config for ``options`` (threshold from its turn detector)."""
    detector = options.turn_detection
    return EndpointingConfig(
        min_delay=options.min_endpointing_delay, max_delay=options.max_endpointing_delay,
        unlikely_threshold=detector.unlikely_threshold if detector is not None else 0.5,
        likely_threshold=detector.likely_threshold if detector is not None else None)


def continue_context(old: Agent | None, new: Agent) -> None:
    """A new agent built from the old one's context (``chat_ctx=self.chat_ctx`` in a handoff
    tool) also gets what the old agent recorded after that copy was taken: the text played
    before the tool call, the call and its output."""
    if old is None:
        return
    mine = {item.id for item in new._chat_ctx.items}
    theirs = old._chat_ctx.items
    last_shared = max((i for i, item in enumerate(theirs) if item.id in mine), default=None)
    if last_shared is not None:
        new._chat_ctx.insert([item for item in theirs[last_shared + 1:] if item.id not in mine])


class ActiveAgentConfig(NodeConfig):
    """``defaults``: the session's options, which an agent's turn options override."""

    defaults: SessionOptions = Field(default_factory=SessionOptions)


class ActiveAgentNode(Node):
    """The active agent, its turn options and its handoffs (see the module docstring).

    Inputs: ``agents`` (from the session), ``handoffs`` (agents handed over by tools, a feedback
    edge). Outputs: ``agent``, ``turn``, ``endpointing``, ``items`` (the history's
    :class:`~flowagents.llm.AgentHandoff` records)."""

    Config = ActiveAgentConfig
    kind = "source"
    inputs = (In("agents", Agent, doc="session start / update_agent"),
              In("handoffs", Agent, required=False, doc="handoff"))
    outputs = (Out("agent", ActiveAgent, doc="active agent"),
               Out("turn", TurnOptions, doc="turn options"),
               Out("endpointing", EndpointingConfig, doc="endpointing delays"),
               Out("items", ChatItem, doc="handoff record"))

    def __init__(self, turn_detection: TurnDetector | None = None,
                 config: NodeConfig | None = None, *, name: str | None = None,
                 **options: Any) -> None:
        super().__init__(config, name=name, **options)
        self.turn_detection = turn_detection

    def default_name(self) -> str:
        return "active_agent"

    def options_in_force(self) -> Mapping[str, Any]:
        """The session's options, as the rules apply them until an agent overrides some."""
        cfg = self.config
        assert isinstance(cfg, ActiveAgentConfig)
        detector = self.turn_detection
        return {**cfg.defaults.model_dump(),
                "turn_detection": type(detector).__name__ if detector is not None else None}

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ActiveAgentConfig)
        state = _InCharge(ctx, cfg.defaults, self.turn_detection, inputs)
        return {"agent": state.port(0), "turn": state.port(1), "endpointing": state.port(2),
                "items": state.items}


class _InCharge:
    """The node's state for one job: the agent in charge and the values of its three ports,
    each replayed to a new subscriber; the inputs are subscribed by the first subscriber of any
    port and let go by the last (one connection, whatever the number of consumers)."""

    __slots__ = ("connection", "ctx", "defaults", "detector", "hooks", "inputs", "items",
                 "subjects", "subscribers", "values")

    def __init__(self, ctx: BuildContext, defaults: SessionOptions,
                 detector: TurnDetector | None, inputs: Mapping[str, Observable[Any]]) -> None:
        self.ctx, self.defaults, self.detector, self.inputs = ctx, defaults, detector, inputs
        self.subjects: tuple[LoopSubject[Any], ...] = (LoopSubject(), LoopSubject(),
                                                       LoopSubject())
        self.values: list[Any] = [None, None, None]  # agent, turn options, endpointing
        self.items: LoopSubject[ChatItem] = LoopSubject()
        self.hooks: set[abc.DisposableBase] = set()  # the hooks still running
        self.connection: CompositeDisposable | None = None
        self.subscribers = 0

    @property
    def agent(self) -> Agent | None:
        active: ActiveAgent | None = self.values[0]
        return active.agent if active is not None else None

    def port(self, index: int) -> Observable[Any]:
        def subscribe(observer: abc.ObserverBase[Any],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            if self.values[index] is not None:
                observer.on_next(self.values[index])
            watch = self.subjects[index].subscribe(observer)
            self.subscribers += 1
            if self.connection is None:
                self.connection = CompositeDisposable(Dispose(self.drop_hooks))
                if "handoffs" in self.inputs:
                    self.connection.add(self.inputs["handoffs"].subscribe(self.on_agent))
                self.connection.add(self.inputs["agents"].subscribe(self.on_agent))

            def release() -> None:
                watch.dispose()
                self.subscribers -= 1
                if self.subscribers == 0 and self.connection is not None:
                    done, self.connection = self.connection, None
                    done.dispose()

            return Dispose(release)

        return Observable(subscribe)

    def emit(self, index: int, value: Any) -> None:
        if value != self.values[index] or index == 0:
            self.values[index] = value
            self.subjects[index].on_next(value)

    def run_hook(self, agent: Agent, name: str) -> None:
        coro = agent.on_enter if name == "on_enter" else agent.on_exit

        def report(exc: Exception) -> None:
            self.ctx.report_error(NodeError(name, None, exc))

        self.hold(from_coroutine(coro, self.ctx.loop), on_error=report)

    def hold(self, hook: Observable[Any], on_next: Callable[[Any], None] | None = None,
             on_error: Callable[[Exception], None] | None = None) -> None:
        """Run a hook, holding its subscription (to cancel it with the node) only while it
        runs: a session may hand off many times, and finished hooks must not pile up."""
        state: list[abc.DisposableBase | bool] = [True]  # running; then its subscription

        def finished() -> None:
            held, state[0] = state[0], False
            if isinstance(held, abc.DisposableBase):
                self.hooks.discard(held)

        def failed(exc: Exception) -> None:
            finished()
            if on_error is not None:
                on_error(exc)

        subscription = hook.subscribe(on_next, failed, finished)
        if state[0] is True:
            state[0] = subscription
            self.hooks.add(subscription)

    def drop_hooks(self) -> None:
        hooks, self.hooks = self.hooks, set()
        for hook in hooks:
            hook.dispose()

    def activate(self, agent: Agent) -> None:
        old, now = self.agent, self.ctx.now()
        if old is not None:
            self.items.on_next(AgentHandoff(old_agent_id=old.id, new_agent_id=agent.id,
                                            created_at=now))
            continue_context(old, agent)
            if agent._session is None:
                agent._session = old._session
        options = turn_options(self.defaults, agent, self.detector)
        self.emit(0, ActiveAgent(agent, options, now))
        self.emit(1, options)
        self.emit(2, endpointing_config(options))
        self.run_hook(agent, "on_enter")

    def on_agent(self, agent: Agent) -> None:
        old = self.agent
        if old is None:
            self.activate(agent)
            return

        async def leave() -> Agent:
            try:
                await old.on_exit()
            except Exception as exc:
                self.ctx.report_error(NodeError("on_exit", None, exc))
            return agent

        self.hold(from_coroutine(leave, self.ctx.loop), self.activate)
