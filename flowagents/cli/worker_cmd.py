"""The ``start``, ``dev`` and ``connect`` commands (typer).

``register(app)`` adds them to the ``flowagents`` command, where they take the agent as
``module:attr`` (a ``WorkerOptions`` or an entrypoint function); the module-level :func:`start`,
:func:`dev` and :func:`connect` are the same commands for ``cli.main``'s ``mount``;
``run_app(opts)`` adds them bound to an agent file's options. Credentials come from flags or the
``LIVEKIT_*`` environment variables; the secret is never echoed. ``start`` and ``dev`` check the
settings before starting anything (exit 2 naming what is missing) and exit 1 with the cause and
the URL tried when the server refuses the credentials or the worker gives up reconnecting.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from flowagents.worker.connection import ConnectError
from flowagents.worker.health import HealthServerError
from flowagents.worker.logs import LogFormat
from flowagents.worker.options import MissingSettingsError, WorkerOptions

from .loading import LoadError, Verbose, exit_with, import_target, resolve_attr, split_target

__all__ = ["add_worker_commands", "connect", "dev", "load_agent", "register", "start"]

Url = Annotated[str | None, typer.Option("--url", envvar="LIVEKIT_URL", help="LiveKit server URL")]
Key = Annotated[str | None, typer.Option("--api-key", envvar="LIVEKIT_API_KEY", help="API key")]
Secret = Annotated[str | None, typer.Option("--api-secret", envvar="LIVEKIT_API_SECRET",
                                            help="API secret", show_default=False)]
LogLevel = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")]
Port = Annotated[int | None, typer.Option(
    "--port", help="health/metrics HTTP port (default 8081; dev: any free port)")]
Format = Annotated[LogFormat, typer.Option(
    "--log-format", help="text, or json (one object a line, for log collectors)")]
Record = Annotated[Path | None, typer.Option(
    "--record", help="Record each session's events as JSON lines: one file per session in this "
    "folder (flowagents timeline draws one).")]
AgentArg = Annotated[str | None, typer.Argument(
    help="the agent: module[:attr] or path/to/file.py[:attr] (WorkerOptions or entrypoint); "
         "not needed from an agent file")]


def load_agent(target: str) -> WorkerOptions:
    """The worker options ``target`` names: ``module[:attr]`` or ``path/to/file.py[:attr]``.

    ``attr`` is a ``WorkerOptions`` or an entrypoint (``async def entrypoint(ctx)``). An
    entrypoint that the module's own ``WorkerOptions`` runs gets those options (its
    ``prewarm_fnc``, its limits), so ``examples.minimal:entrypoint`` and ``examples.minimal``
    run the same worker. Without ``attr``: the module's one ``WorkerOptions``, else its
    ``entrypoint``. An entrypoint without options gets the module's ``prewarm`` function as its
    ``prewarm_fnc`` (LiveKit's name for it), so a job finds what prewarm loaded. Raises
    :class:`LoadError`.
    """
    module_name, attr = split_target(target)
    module = import_target(module_name)
    found = [v for v in vars(module).values() if isinstance(v, WorkerOptions)]
    if not attr:
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise LoadError(f"{target} has {len(found)} WorkerOptions: name one as "
                            f"{module_name}:<name>")
        if not hasattr(module, "entrypoint"):
            raise LoadError(f"{target} has no WorkerOptions and no entrypoint function: name "
                            f"one as {module_name}:<name>")
        attr = "entrypoint"
    obj: Any = resolve_attr(module, attr, target)
    if isinstance(obj, WorkerOptions):
        return obj
    if not callable(obj):
        raise LoadError(f"{target} is {type(obj).__name__}: expected WorkerOptions or an "
                        f"entrypoint function (async def entrypoint(ctx: JobContext))")
    for opts in found:
        if opts.entrypoint_fnc is obj:
            return opts
    prewarm = getattr(module, "prewarm", None)
    if not inspect.isfunction(prewarm):
        prewarm = None
    try:
        return WorkerOptions(entrypoint_fnc=obj,
                             prewarm_fnc=prewarm if callable(prewarm) else None)
    except ValueError as e:  # pydantic's ValidationError: the entrypoint's shape
        raise LoadError(f"{target}: {_first_error(e)}") from e


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first.get("msg", error)).removeprefix("Value error, ")
    return str(error)


def _with(opts: WorkerOptions, url: str | None, key: str | None, secret: str | None,
          port: int | None) -> WorkerOptions:
    update: dict[str, Any] = {}
    if url:
        update["ws_url"] = url
    if key:
        update["api_key"] = key
    if secret:
        from pydantic import SecretStr

        update["api_secret"] = SecretStr(secret)
    if port is not None:
        update["port"] = port
    return opts.model_copy(update=update)


def _run(opts: WorkerOptions, *, dev_mode: bool, log_format: LogFormat) -> None:
    """Run the worker; a fatal start-up or connection error is one line and a non-zero exit.

    In JSON mode the connection error is left to the worker's log record (one JSON line).
    """
    from flowagents.cli.runner import run_worker

    try:
        opts.check_settings()
    except MissingSettingsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(run_worker(opts, dev_mode=dev_mode))
    except HealthServerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except ConnectError as e:
        if log_format != "json":
            typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


def _record(path: Path | None, *, one_job: bool = False) -> None:
    """Sessions built without ``record=`` record to ``path`` (job processes inherit it).

    A worker runs many jobs, so it records to a folder (one file per session): a ``.jsonl``
    file would be overwritten by each new session. ``connect`` runs one job and takes either.
    """
    if path is None:
        return
    if not one_job and path.suffix == ".jsonl":
        raise typer.BadParameter(f"{path} is a file: a worker records each session to its own "
                                 "file, give a folder", param_hint="--record")
    from flowagents.session.recording import RECORD_ENV

    os.environ[RECORD_ENV] = str(path.resolve())  # the same place whatever a job's cwd


def add_worker_commands(app: typer.Typer, get_opts: Callable[..., WorkerOptions],
                        *, agent_arg: bool = False) -> dict[str, Callable[..., None]]:
    """Add start/dev/connect; with ``agent_arg`` each takes the agent as ``module:attr`` first.

    Returns the three command functions by name.
    """
    from flowagents.cli.runner import run_connect, setup_logging

    def resolve(agent: str | None, verbose: bool) -> WorkerOptions:
        if not agent_arg:
            return get_opts()
        if not agent:
            raise typer.BadParameter("give the agent as module[:attr] or path/to/file.py[:attr]")
        try:
            return get_opts(agent)
        except LoadError as e:
            exit_with(e, verbose=verbose, code=2)

    @app.command()
    def start(agent: AgentArg = None, url: Url = None, api_key: Key = None,
              api_secret: Secret = None, log_level: LogLevel = "INFO",
              port: Port = None, log_format: Format = "text",
              verbose: Verbose = False, record: Record = None) -> None:
        """Run the worker in production mode."""
        _record(record)
        opts = _with(resolve(agent, verbose), url, api_key, api_secret, port)
        setup_logging(log_level.upper(), log_format)
        _run(opts, dev_mode=False, log_format=log_format)

    @app.command()
    def dev(agent: AgentArg = None, url: Url = None, api_key: Key = None,
            api_secret: Secret = None, log_level: LogLevel = "DEBUG",
            port: Port = None, log_format: Format = "text",
            verbose: Verbose = False, record: Record = None) -> None:
        """Run the worker in dev mode: no load limit, no idle processes, debug logs."""
        _record(record)
        opts = _with(resolve(agent, verbose), url, api_key, api_secret, port)
        setup_logging(log_level.upper(), log_format)
        _run(opts, dev_mode=True, log_format=log_format)

    @app.command()
    def connect(agent: AgentArg = None,
                room: Annotated[str, typer.Option("--room", help="room to join")] = "",
                participant_identity: Annotated[str, typer.Option(
                    "--participant-identity", help="the agent's identity")] = "",
                url: Url = None, api_key: Key = None, api_secret: Secret = None,
                log_level: LogLevel = "DEBUG", log_format: Format = "text",
                verbose: Verbose = False, record: Record = None) -> None:
        """Join a room directly (no dispatch) and run one job there."""
        _record(record, one_job=True)
        if not room:
            raise typer.BadParameter("--room is required")
        opts = _with(resolve(agent, verbose), url, api_key, api_secret, None)
        setup_logging(log_level.upper(), log_format)
        try:
            opts.check_settings()
        except MissingSettingsError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        error = asyncio.run(run_connect(opts, room=room, identity=participant_identity))
        if error:
            logging.getLogger("flowagents.cli").error("job failed", extra={"error": error})
            raise typer.Exit(1)

    return {"start": start, "dev": dev, "connect": connect}


def register(app: typer.Typer) -> None:
    """Add ``start``, ``dev`` and ``connect`` (each taking ``module:attr``) to ``app``."""
    add_worker_commands(app, load_agent, agent_arg=True)


_COMMANDS = add_worker_commands(typer.Typer(), load_agent, agent_arg=True)
start = _COMMANDS["start"]
dev = _COMMANDS["dev"]
connect = _COMMANDS["connect"]
