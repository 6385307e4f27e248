"""The ``flowagents`` command: one typer app, each subcommand defined in its own module.

Adding a command is one :func:`mount` line below: its name, its module, and the attribute that
holds it, either a ``typer.Typer`` (a group, such as ``graph render``) or a plain function (one
command, such as ``console``). A command module that does not exist yet is skipped, and one that
fails to import becomes a command that reports the error, so one broken module never takes the
whole CLI down. Only typer's public API is used (typer 0.29 vendors its own click).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Annotated, Any

import typer

__all__ = ["app", "mount"]

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="flowagents: real-time voice agents as reactive stream graphs.")


def mount(name: str, module: str, attr: str, *, into: typer.Typer | None = None) -> None:
    """Add command ``name`` from ``module.attr`` (a Typer group or a function), if it exists."""
    group = app if into is None else into
    target: Any
    try:
        target = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as e:
        if e.name == module:
            return
        target = _unavailable(name, e)
    except Exception as e:  # a broken command must not take the others down
        target = _unavailable(name, e)
    if isinstance(target, typer.Typer):
        group.add_typer(target, name=name)
    else:
        group.command(name)(target)


def _unavailable(name: str, error: Exception) -> Callable[[], None]:
    reason = f"{type(error).__name__}: {error}"

    def unavailable() -> None:
        typer.echo(f"error: command {name!r} is unavailable: {reason}", err=True)
        raise typer.Exit(1)

    unavailable.__doc__ = f"(unavailable: {type(error).__name__})"
    return unavailable


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flowagents {importlib.metadata.version('flowagents')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """flowagents: real-time voice agents as reactive stream graphs."""


mount("graph", "flowagents.cli.graph_cmd", "app")
mount("console", "flowagents.cli.console_cmd", "console")
mount("dev", "flowagents.cli.worker_cmd", "dev")
mount("start", "flowagents.cli.worker_cmd", "start")
mount("connect", "flowagents.cli.worker_cmd", "connect")
mount("timeline", "flowagents.cli.timeline_cmd", "timeline")

if __name__ == "__main__":
    app()
