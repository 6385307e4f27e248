"""User state: speaking, listening or away, dated by the VAD, with the away timer.

``speaking`` starts at the VAD's dated start of speech and ``listening`` at its dated end. After
``user_away_timeout`` (15 s) with both sides listening (the user silent, the agent idle: no speech
in flight, so not while a tool runs), the user is ``away`` until they speak again. The timer runs
on the job's scheduler and restarts whenever both sides become listening again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out, register_type
from flowagents.runtime.timer import Timer
from flowagents.types import VADEvent, VADEventType
from flowagents.voice.events import UserState
from flowagents.voice.options import default
from flowagents.voice.signals import AgentActivity, UserStateChange

__all__ = ["UserStateConfig", "UserStateNode", "user_state"]

register_type(UserStateChange)


class UserStateConfig(NodeConfig):
    user_away_timeout: float | None = Field(default("user_away_timeout"), gt=0.0)


class _UserState:
    """One subscription's state: the user's state, whether the agent is idle, the away timer."""

    __slots__ = ("agent_idle", "emit", "timeout", "timer", "user")

    def __init__(self, scheduler: abc.SchedulerBase, timeout: float | None,
                 emit: Callable[[UserStateChange], None]) -> None:
        self.user: UserState = "listening"
        self.agent_idle = False
        self.timeout, self.emit = timeout, emit
        self.timer = Timer(scheduler, self.on_away)

    def change(self, new: UserState, at: float) -> None:
        if self.user != new:
            self.user = new
            self.emit(UserStateChange(new, at))
        self.arm()

    def on_away(self) -> None:
        self.change("away", self.timer.now())

    def arm(self) -> None:
        if not (self.user == "listening" and self.agent_idle):
            self.timer.cancel()
        elif not self.timer.pending and self.timeout is not None:
            self.timer.after(self.timeout)

    def on_vad(self, event: VADEvent) -> None:
        if event.type is VADEventType.START_OF_SPEECH:
            self.change("speaking", event.timestamp)
        elif event.type is VADEventType.END_OF_SPEECH and self.user == "speaking":
            self.change("listening", event.timestamp)

    def on_activity(self, agent: AgentActivity) -> None:
        idle = agent.state == "listening" and not agent.busy
        if idle != self.agent_idle:
            self.agent_idle = idle
            self.timer.cancel()
            self.arm()


def user_state(activity: Observable[AgentActivity], *, scheduler: abc.SchedulerBase,
               config: UserStateConfig) -> Any:
    """``vad.pipe(user_state(activity, ...))``: the user's state changes."""

    def _op(vad: Observable[VADEvent]) -> Observable[UserStateChange]:
        def subscribe(observer: abc.ObserverBase[UserStateChange],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state = _UserState(scheduler, config.user_away_timeout, observer.on_next)
            return CompositeDisposable(
                activity.subscribe(state.on_activity, observer.on_error),
                vad.subscribe(state.on_vad, observer.on_error, observer.on_completed),
                state.timer,
            )

        return Observable(subscribe)

    return _op


class UserStateNode(Node):
    """The user's state (see the module docstring). Emits :class:`UserStateChange`."""

    Config = UserStateConfig
    inputs = (In("vad", VADEvent, doc="speech started / ended"),
              In("activity", AgentActivity, doc="agent activity"))
    outputs = (Out("user_state", UserStateChange, doc="user state"),)

    def default_name(self) -> str:
        return "user_state"

    shows = ("user_away_timeout",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, UserStateConfig)
        op = user_state(inputs["activity"], scheduler=ctx.scheduler, config=cfg)
        return {"user_state": inputs["vad"].pipe(op)}
