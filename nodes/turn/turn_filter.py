"""Turn filter: drop the user turns the agent must not answer.

Two of LiveKit Agents' rules act on committed turns, given what the agent was doing:

* a speech with ``allow_interruptions=False`` is deaf: a turn whose speech started while such a
  speech was in flight (or that commits while one is) produces no reply;
* with ``min_interruption_words`` > 0, a turn committed while an interruptible speech is still in
  flight (thinking or speaking, not paused) needs that many words, else it is dropped (the agent
  carries on).

The optional ``turn`` input (the active agent's turn options) replaces ``min_interruption_words``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.tokenize import split_words
from flowagents.voice.options import TurnOptions
from flowagents.voice.signals import AgentActivity
from flowagents.voice.turns import UserTurn

__all__ = ["TurnFilter", "TurnFilterConfig", "turn_filter"]


class TurnFilterConfig(NodeConfig):
    min_interruption_words: int = Field(0, ge=0)


def turn_filter(activity: Observable[AgentActivity], *, config: TurnFilterConfig,
                options: Observable[TurnOptions] | None = None) -> Any:
    """``turns.pipe(turn_filter(activity, config=...))``: the turns to answer."""

    def _op(turns: Observable[UserTurn]) -> Observable[UserTurn]:
        def subscribe(observer: abc.ObserverBase[UserTurn],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            deaf: deque[tuple[float, float]] = deque(maxlen=64)  # (from, to) of deaf speeches
            state: dict[str, Any] = {"agent": None, "deaf_since": None,
                                     "min_words": config.min_interruption_words}

            def on_activity(agent: AgentActivity) -> None:
                state["agent"] = agent
                is_deaf = agent.busy and not agent.allow_interruptions
                if is_deaf and state["deaf_since"] is None:
                    state["deaf_since"] = agent.time
                elif not is_deaf and state["deaf_since"] is not None:
                    deaf.append((state["deaf_since"], agent.time))
                    state["deaf_since"] = None

            def on_turn(turn: UserTurn) -> None:
                if state["deaf_since"] is not None:
                    return
                if any(start <= turn.speech_start <= end for start, end in deaf):
                    return
                agent: AgentActivity | None = state["agent"]
                need = state["min_words"]
                if (need > 0 and agent is not None and agent.busy and not agent.paused
                        and len(split_words(turn.transcript)) < need):
                    return
                observer.on_next(turn)

            def on_options(turn: TurnOptions) -> None:
                state["min_words"] = turn.min_interruption_words

            subs = CompositeDisposable()
            if options is not None:
                subs.add(options.subscribe(on_options, observer.on_error))
            subs.add(activity.subscribe(on_activity, observer.on_error))
            subs.add(
                turns.subscribe(on_turn, observer.on_error, observer.on_completed))
            return subs

        return Observable(subscribe)

    return _op


class TurnFilter(Node):
    """Drops turns the agent must not answer (see the module docstring)."""

    Config = TurnFilterConfig
    inputs = (In("turns", UserTurn), In("activity", AgentActivity),
              In("turn", TurnOptions, required=False))
    outputs = (Out("turns", UserTurn),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, TurnFilterConfig)
        return {"turns": inputs["turns"].pipe(turn_filter(inputs["activity"], config=cfg,
                                                       options=inputs.get("turn")))}
