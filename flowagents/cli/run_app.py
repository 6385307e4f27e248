"""``cli.run_app(WorkerOptions(...))``: LiveKit's entry point for an agent file.

An agent file ends with it and gets the worker's commands (``python agent.py start|dev|connect``).
"""

from __future__ import annotations

from flowagents.worker.options import WorkerOptions

__all__ = ["run_app"]


def run_app(opts: WorkerOptions) -> None:
    """Command line for an agent file: ``python agent.py start|dev|connect --room NAME``."""
    import typer

    from flowagents.cli.worker_cmd import add_worker_commands

    app = typer.Typer(add_completion=False, help="Run this agent as a LiveKit worker.")
    add_worker_commands(app, lambda: opts)
    app()
