"""Small generic nodes to compose and test graphs: identity, tap, gain, merge, throttle, delay.

A node in a spec must be rebuilt from its config, so there is no ``Map(lambda ...)`` node: these
are the config-driven few that engine tests, examples and notebooks need. Each has a plain
operator beside it (``gain(-6.0)``, ``merge_sync(a, b)``) for use outside a graph. Time-based ones
take the job's scheduler, as every time-based operator in a graph must.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import Field
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from flowagents.graph import ANY, BuildContext, In, Node, NodeConfig, Out, PortDecl
from flowagents.types import AudioFrame

__all__ = [
    "Delay", "DelayConfig", "Gain", "GainConfig", "Identity", "Merge", "MergeConfig", "Tap",
    "TapConfig", "Throttle", "ThrottleConfig", "gain", "merge_sync",
]

_T = TypeVar("_T")


class Identity(Node):
    """Passes its input through: a named point in a graph (to render, to tap, to rewire)."""

    inputs = (In("in", ANY),)
    outputs = (Out("out", ANY),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        return {"out": inputs["in"]}


class TapConfig(NodeConfig):
    resource: str = Field(description="name of a per-job resource: a callable given each value")


class Tap(Node):
    """Passes its input through and hands each value to a callable found in the job's resources.

    Lets a test or a metrics sink watch an inner stream of a graph built from a spec.
    """

    Config = TapConfig
    inputs = (In("in", ANY),)
    outputs = (Out("out", ANY),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, TapConfig)
        try:
            sink: Callable[[Any], None] = ctx.resources[cfg.resource]
        except KeyError:
            raise KeyError(f"no resource {cfg.resource!r} to tap into") from None
        return {"out": inputs["in"].pipe(ops.do_action(sink))}


def gain(db: float) -> Callable[[Observable[AudioFrame]], Observable[AudioFrame]]:
    """Scale audio by ``db`` decibels, saturating at the int16 range (0 dB passes frames as is)."""
    factor = float(10.0 ** (db / 20.0))

    def apply(frame: AudioFrame) -> AudioFrame:
        scaled = np.multiply(frame.data, factor, dtype=np.float32)
        np.clip(scaled, -32768.0, 32767.0, out=scaled)
        return AudioFrame(scaled.astype(np.int16), frame.sample_rate, frame.num_channels,
                          frame.timestamp)

    def _gain(source: Observable[AudioFrame]) -> Observable[AudioFrame]:
        return source if db == 0.0 else source.pipe(ops.map(apply))

    return _gain


class GainConfig(NodeConfig):
    db: float = Field(0.0, description="gain in decibels (negative attenuates)")


class Gain(Node):
    """Audio louder or quieter by ``db`` decibels (see :func:`gain`)."""

    Config = GainConfig
    inputs = (In("audio", AudioFrame),)
    outputs = (Out("audio", AudioFrame),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, GainConfig)
        return {"audio": inputs["audio"].pipe(gain(cfg.db))}


def merge_sync(*sources: Observable[_T]) -> Observable[_T]:
    """Interleave values of all sources as they come, subscribing to each at once, in order.

    Unlike ``reactivex.merge`` it schedules nothing, so no value pushed right after subscription
    is lost. Completes when every source has completed; the first error ends it.
    """

    def subscribe(observer: abc.ObserverBase[_T],
                  scheduler: abc.SchedulerBase | None = None) -> abc.DisposableBase:
        remaining = len(sources)
        if remaining == 0:
            observer.on_completed()
            return CompositeDisposable()

        def on_completed() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                observer.on_completed()

        return CompositeDisposable(
            [s.subscribe(observer.on_next, observer.on_error, on_completed) for s in sources])

    return Observable(subscribe)


class MergeConfig(NodeConfig):
    inputs: int = Field(2, ge=1, le=64, description="number of input ports in_0 .. in_{n-1}")


class Merge(Node):
    """One stream of the values of ``in_0`` ... ``in_{n-1}`` (see :func:`merge_sync`).

    Inputs are optional: the connected ones are merged.
    """

    Config = MergeConfig
    outputs = (Out("out", ANY),)

    def input_ports(self) -> tuple[PortDecl, ...]:
        cfg = self.config
        assert isinstance(cfg, MergeConfig)
        return tuple(In(f"in_{i}", ANY, required=False) for i in range(cfg.inputs))

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        connected = [inputs[p.name] for p in self.input_ports() if p.name in inputs]
        return {"out": merge_sync(*connected)}


class ThrottleConfig(NodeConfig):
    interval: float = Field(gt=0.0, description="seconds after a value during which to drop")


class Throttle(Node):
    """At most one value per ``interval``: the first of each window (``throttle_first``)."""

    Config = ThrottleConfig
    inputs = (In("in", ANY),)
    outputs = (Out("out", ANY),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, ThrottleConfig)
        return {"out": inputs["in"].pipe(ops.throttle_first(cfg.interval, ctx.scheduler))}


class DelayConfig(NodeConfig):
    seconds: float = Field(ge=0.0, description="how long to hold each value")


class Delay(Node):
    """Every value (and the completion) ``seconds`` later, on the job's scheduler."""

    Config = DelayConfig
    inputs = (In("in", ANY),)
    outputs = (Out("out", ANY),)

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, DelayConfig)
        return {"out": inputs["in"].pipe(ops.delay(cfg.seconds, ctx.scheduler))}
