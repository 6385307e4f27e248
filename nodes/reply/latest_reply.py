"""Reply cancellation by switch-latest: one reply in flight, replaced by each new user turn.

When the user speaks again, or barges in, the agent's reply in flight must stop: its LLM stream
closed, its TTS abandoned. Rx says this in one operator, ``switch_latest``: map each turn to a
reply observable and keep only the newest subscription. :func:`latest_reply` is that operator,
hand-written so that it also stops on a separate ``cancel`` stream (an accepted interruption) and
so that a failing reply can be reported without ending the whole stream:
``turns.pipe(latest_reply(make_reply, cancel=barge_in))``.

Disposing a reply is what cancels its work: a reply built with
:func:`flowagents.runtime.bridge.from_async_iterable` cancels its task and closes its async
iterator (its ``finally`` runs). The previous reply is disposed *before* the factory is called for
the next turn, so two replies never run at once. Values of a disposed reply are never forwarded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import ANY, BuildContext, In, Node, NodeConfig, NodeError, Out
from flowagents.runtime.bridge import Dispose
from flowagents.voice.turns import UserTurn

__all__ = ["Reply", "ReplyConfig", "latest_reply"]

_T = TypeVar("_T")
_TurnT = TypeVar("_TurnT")


def latest_reply(
    make_reply: Callable[[_TurnT], Observable[_T]],
    cancel: Observable[Any] | None = None,
    *,
    on_error: Callable[[Exception], None] | None = None,
) -> Callable[[Observable[_TurnT]], Observable[_T]]:
    """Start ``make_reply(turn)`` per turn; a new turn or any ``cancel`` value disposes the one in
    flight.

    Errors of a reply (or of the factory) end the output, as in Rx, unless ``on_error`` is given:
    then they are handed to it and the next turn gets a reply as usual. The output completes when
    the turns have completed and the reply in flight (if any) has completed. A completed cancel
    stream cancels nothing more; its error ends the output.
    """

    def _latest(turns: Observable[_TurnT]) -> Observable[_T]:
        def subscribe(observer: abc.ObserverBase[_T],
                      scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            current: abc.DisposableBase | None = None
            generation = 0  # tags the reply in flight; values of older replies are dropped
            active = False
            turns_done = False

            def stop_current() -> None:
                nonlocal current, generation, active
                generation += 1
                active = False
                if current is not None:
                    old, current = current, None
                    old.dispose()

            def fail(exc: Exception) -> None:
                if on_error is not None:
                    on_error(exc)
                    if turns_done:
                        observer.on_completed()
                else:
                    stop_current()
                    observer.on_error(exc)

            def on_turn(turn: _TurnT) -> None:
                nonlocal current, active
                stop_current()
                mine = generation
                try:
                    reply = make_reply(turn)
                except Exception as exc:
                    fail(exc)
                    return
                active = True

                def on_next(value: _T) -> None:
                    if mine == generation:
                        observer.on_next(value)

                def on_reply_error(exc: Exception) -> None:
                    nonlocal active, current
                    if mine == generation:
                        active = False
                        current = None  # ended: nothing left to cancel
                        fail(exc)

                def on_reply_completed() -> None:
                    nonlocal active, current
                    if mine == generation:
                        active = False
                        # let the finished reply go now, not when the next turn replaces it:
                        # freeing its objects is then off the next reply's path
                        current = None
                        if turns_done:
                            observer.on_completed()

                subscription = reply.subscribe(on_next, on_reply_error, on_reply_completed)
                if mine == generation and active:
                    current = subscription
                else:  # finished (or was replaced) while subscribing
                    subscription.dispose()

            def on_cancel(_: Any) -> None:
                was_active = active
                stop_current()
                if turns_done and was_active:
                    observer.on_completed()

            def on_turns_completed() -> None:
                nonlocal turns_done
                turns_done = True
                if not active:
                    observer.on_completed()

            subscriptions = CompositeDisposable()
            if cancel is not None:
                subscriptions.add(cancel.subscribe(on_cancel, observer.on_error))
            subscriptions.add(turns.subscribe(on_turn, observer.on_error, on_turns_completed))
            subscriptions.add(Dispose(stop_current))
            return subscriptions

        return Observable(subscribe)

    return _latest


class ReplyConfig(NodeConfig):
    """``factory``: the name of a per-job resource holding the reply factory (when the node is
    built from a spec rather than given the factory in Python)."""

    factory: str = "reply_factory"
    report_errors: bool = True


class Reply(Node, Generic[_T]):
    """Switch-latest over replies (see :func:`latest_reply`), generic over the reply factory.

    Inputs: ``turns`` (:class:`~nodes.endpointing.UserTurn`), ``cancel`` (optional, any value).
    Output ``reply``: the values of the reply in flight. The factory is given in Python
    (``Reply(make_reply)``) or looked up by name in the job's resources. With ``report_errors``
    a failed reply is published as a :class:`NodeError` on the runtime's errors and the node keeps
    answering later turns; otherwise the error ends the node's output.
    """

    Config = ReplyConfig
    inputs = (In("turns", UserTurn), In("cancel", ANY, required=False))
    outputs = (Out("reply", ANY),)

    def __init__(self, make_reply: Callable[[UserTurn], Observable[_T]] | None = None,
                 config: NodeConfig | None = None, *, name: str | None = None,
                 **options: Any) -> None:
        super().__init__(config, name=name, **options)
        self.make_reply = make_reply

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ReplyConfig)
        factory: Callable[[UserTurn], Observable[Any]] | None = self.make_reply
        if factory is None:
            try:
                factory = ctx.resources[cfg.factory]
            except KeyError:
                raise KeyError(f"no reply factory: pass one to Reply() or provide resource "
                               f"{cfg.factory!r}") from None

        def report(exc: Exception) -> None:
            ctx.report_error(NodeError(ctx.node, "reply", exc))

        op = latest_reply(factory, inputs.get("cancel"),
                          on_error=report if cfg.report_errors else None)
        return {"reply": inputs["turns"].pipe(op)}
