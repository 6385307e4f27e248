"""Turn filter: the user turns the agent answers, given what it is doing.

Two of LiveKit Agents' rules act on committed turns:

* a speech with ``allow_interruptions=False`` is deaf: a spoken turn whose speech started while
  such a speech was in flight (or that commits while one is) produces no reply;
* with ``min_interruption_words`` > 0, a spoken turn committed while an interruptible speech is
  still in flight (thinking or speaking, not paused) needs that many words. A shorter one is
  not answered yet but not thrown away either: it is held, and the next turn is answered as one
  with it (its words count toward the minimum, and its text leads the user message).

A typed turn (``session.push_text``) is always answered: deafness and word counts are about
audio. ``min_interruption_words`` comes from the active agent's turn options on ``turn``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, Out
from flowagents.tokenize import split_words
from flowagents.voice.options import TurnOptions
from flowagents.voice.signals import AgentActivity
from flowagents.voice.turns import UserTurn

__all__ = ["TurnFilter", "join_turns", "turn_filter"]


def join_turns(first: UserTurn, then: UserTurn) -> UserTurn:
    """One turn of two: a held turn and the one that completes it."""
    return UserTurn(f"{first.transcript} {then.transcript}", first.speech_start,
                    then.speech_end, then.committed_at, first.transcripts + then.transcripts,
                    then.end_of_turn_probability, then.typed)


class _Filter:
    """One subscription's state."""

    __slots__ = ("agent", "deaf", "deaf_since", "held", "min_words")

    def __init__(self) -> None:
        self.agent: AgentActivity | None = None
        self.deaf: deque[tuple[float, float]] = deque(maxlen=64)  # (from, to) of deaf speeches
        self.deaf_since: float | None = None
        self.held: UserTurn | None = None
        self.min_words = 0

    def on_activity(self, agent: AgentActivity) -> None:
        self.agent = agent
        is_deaf = agent.busy and not agent.allow_interruptions
        if is_deaf and self.deaf_since is None:
            self.deaf_since = agent.time
        elif not is_deaf and self.deaf_since is not None:
            self.deaf.append((self.deaf_since, agent.time))
            self.deaf_since = None

    def on_options(self, options: TurnOptions) -> None:
        self.min_words = options.min_interruption_words

    def answer(self, turn: UserTurn) -> UserTurn | None:
        """The turn to answer, or None."""
        if turn.typed:
            return turn
        if self.deaf_since is not None:
            return None
        if any(start <= turn.speech_start <= end for start, end in self.deaf):
            return None
        if self.held is not None:
            turn, self.held = join_turns(self.held, turn), None
        agent = self.agent
        need = self.min_words
        if (need > 0 and agent is not None and agent.busy and not agent.paused
                and len(split_words(turn.transcript)) < need):
            self.held = turn
            return None
        return turn


def turn_filter(activity: Observable[AgentActivity],
                options: Observable[TurnOptions] | None = None,
                typed: Observable[UserTurn] | None = None) -> Any:
    """``turns.pipe(turn_filter(activity, options, typed))``: the turns to answer (the spoken
    ones from ``turns``, the typed ones from ``typed``)."""

    def _op(turns: Observable[UserTurn]) -> Observable[UserTurn]:
        def subscribe(observer: abc.ObserverBase[UserTurn],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            state = _Filter()

            def on_turn(turn: UserTurn) -> None:
                answered = state.answer(turn)
                if answered is not None:
                    observer.on_next(answered)

            subs = CompositeDisposable()
            if options is not None:
                subs.add(options.subscribe(state.on_options, observer.on_error))
            subs.add(activity.subscribe(state.on_activity, observer.on_error))
            if typed is not None:
                subs.add(typed.subscribe(on_turn, observer.on_error))
            subs.add(turns.subscribe(on_turn, observer.on_error, observer.on_completed))
            return subs

        return Observable(subscribe)

    return _op


class TurnFilter(Node):
    """The turns to answer (see the module docstring)."""

    inputs = (In("turns", UserTurn, doc="turn committed"),
              In("activity", AgentActivity, doc="agent activity"),
              In("turn", TurnOptions, required=False, doc="turn options"),
              In("typed", UserTurn, required=False, doc="typed turn"))
    outputs = (Out("turns", UserTurn, doc="turn to answer"),)

    reads = ("min_interruption_words",)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        return {"turns": inputs["turns"].pipe(turn_filter(
            inputs["activity"], inputs.get("turn"), inputs.get("typed")))}
