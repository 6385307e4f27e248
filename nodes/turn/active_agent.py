"""Active agent: which agent is in charge, and the turn options in force, as streams.

Turn options are per agent (LiveKit's ``Agent(min_endpointing_delay=..., ...)`` overrides): the
session publishes an :class:`~flowagents.voice.signals.ActiveAgent` at start and at each handoff,
as the ``active_agent`` resource (an observable that replays the current value). This source node
brings it into the graph so the picture shows where each rule's options come from: ``agent``
(for the STT stage), ``turn`` (:class:`~flowagents.voice.options.TurnOptions`, for interruption,
the turn filter, false interruption and the turn detector) and ``endpointing`` (an
:class:`~nodes.endpointing.EndpointingConfig` with the delays and the detector's threshold).
Without the resource (a graph run outside a session) the streams are empty and every rule keeps
its built-in config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import reactivex
from reactivex import Observable
from reactivex import operators as ops

from flowagents.graph import BuildContext, Node, Out, register_type
from flowagents.voice.options import TurnOptions
from flowagents.voice.signals import ActiveAgent
from nodes.turn.endpointing import EndpointingConfig

__all__ = ["ActiveAgentNode", "endpointing_config"]

for _t in (ActiveAgent, TurnOptions, EndpointingConfig):
    register_type(_t)


def endpointing_config(options: TurnOptions) -> EndpointingConfig:
    """The endpointing rule's config for ``options`` (threshold from its turn detector)."""
    detector = options.turn_detection
    return EndpointingConfig(
        min_delay=options.min_endpointing_delay, max_delay=options.max_endpointing_delay,
        unlikely_threshold=detector.unlikely_threshold if detector is not None else 0.5)


class ActiveAgentNode(Node):
    """The active agent and its turn options (see the module docstring). A source node."""

    kind = "source"
    outputs = (Out("agent", ActiveAgent), Out("turn", TurnOptions),
               Out("endpointing", EndpointingConfig))

    def default_name(self) -> str:
        return "active_agent"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        agents: Observable[ActiveAgent] = ctx.resources.get("active_agent") or reactivex.empty()
        def options(active: ActiveAgent) -> TurnOptions:
            return active.options

        turn: Observable[TurnOptions] = agents.pipe(ops.map(options),
                                                    ops.distinct_until_changed())
        endpointing: Observable[EndpointingConfig] = turn.pipe(
            ops.map(endpointing_config), ops.distinct_until_changed())
        return {"agent": agents, "turn": turn, "endpointing": endpointing}
