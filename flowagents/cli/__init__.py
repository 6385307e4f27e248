"""The ``flowagents`` command line: ``graph`` here; ``console``, ``dev``, ``start``, ``connect``
in their own modules, loaded on demand by :mod:`flowagents.cli.main`.

``cli.run_app(WorkerOptions(...))`` is LiveKit's entry point for an agent file (see
:mod:`flowagents.cli.agent_file`); it loads on first use, so ``from flowagents import cli``
costs nothing until it is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowagents.cli.agent_file import run_app as run_app

__all__ = ["run_app"]


def __getattr__(name: str) -> Any:
    if name == "run_app":
        from flowagents.cli.agent_file import run_app

        globals()["run_app"] = run_app
        return run_app
    raise AttributeError(f"module 'flowagents.cli' has no attribute {name!r}")
