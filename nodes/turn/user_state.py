"""User state: speaking, listening or away, dated by the VAD, with the away timer.

``speaking`` starts at the VAD's dated start of speech and ``listening`` at its dated end. After
``user_away_timeout`` (15 s) with both sides listening (the user silent, the agent idle: no speech
in flight, so not while a tool runs), the user is ``away`` until they speak again. The timer runs
on the job's scheduler and restarts whenever both sides become listening again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out, register_type
from flowagents.runtime.scheduler import seconds
from flowagents.types import VADEvent, VADEventType
from flowagents.voice.signals import AgentActivity, UserStateChange

__all__ = ["UserStateConfig", "UserStateNode", "user_state"]

register_type(UserStateChange)


class UserStateConfig(NodeConfig):
    user_away_timeout: float | None = Field(15.0, gt=0.0)


def user_state(activity: Observable[AgentActivity], *, scheduler: abc.SchedulerBase,
               config: UserStateConfig) -> Any:
    """``vad.pipe(user_state(activity, ...))``: the user's state changes."""
    timeout = config.user_away_timeout

    def _op(vad: Observable[VADEvent]) -> Observable[UserStateChange]:
        def subscribe(observer: abc.ObserverBase[UserStateChange],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state: dict[str, Any] = {"user": "listening", "agent_idle": False, "timer": None}

            def cancel() -> None:
                if state["timer"] is not None:
                    state["timer"].dispose()
                    state["timer"] = None

            def change(new: Any, at: float) -> None:
                if state["user"] != new:
                    state["user"] = new
                    observer.on_next(UserStateChange(new, at))
                arm()

            def on_timer(_s: abc.SchedulerBase, _st: Any = None) -> None:
                state["timer"] = None
                change("away", seconds(scheduler))

            def arm() -> None:
                both = state["user"] == "listening" and state["agent_idle"]
                if not both:
                    cancel()
                elif state["timer"] is None and timeout is not None:
                    due = seconds(scheduler) + timeout
                    state["timer"] = scheduler.schedule_absolute(due, on_timer)

            def on_vad(event: VADEvent) -> None:
                if event.type is VADEventType.START_OF_SPEECH:
                    change("speaking", event.timestamp)
                elif event.type is VADEventType.END_OF_SPEECH and state["user"] == "speaking":
                    change("listening", event.timestamp)

            def on_activity(agent: AgentActivity) -> None:
                idle = agent.state == "listening" and not agent.busy
                if idle != state["agent_idle"]:
                    state["agent_idle"] = idle
                    cancel()
                    arm()

            return CompositeDisposable(
                activity.subscribe(on_activity, observer.on_error),
                vad.subscribe(on_vad, observer.on_error, observer.on_completed),
                Disposable(cancel),
            )

        return Observable(subscribe)

    return _op


class UserStateNode(Node):
    """The user's state (see the module docstring). Emits :class:`UserStateChange`."""

    Config = UserStateConfig
    inputs = (In("vad", VADEvent), In("activity", AgentActivity))
    outputs = (Out("user_state", UserStateChange),)

    def default_name(self) -> str:
        return "user_state"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, UserStateConfig)
        op = user_state(inputs["activity"], scheduler=ctx.scheduler, config=cfg)
        return {"user_state": inputs["vad"].pipe(op)}
