"""``cli.run_app(WorkerOptions(...))``: LiveKit's entry point for an agent file.

An agent file ends with it and gets LiveKit's commands: ``python agent.py start`` (production
worker), ``dev`` (dev worker), ``connect --room NAME`` (one job in a named room), ``console``
(the entrypoint run locally on the microphone and speaker, typed text or WAV files, see
:mod:`flowagents.cli.console_job`) and ``download-files`` (verify and cache the offline models).
"""

from __future__ import annotations

from flowagents.worker.options import WorkerOptions

__all__ = ["download_files", "run_app"]


def run_app(opts: WorkerOptions) -> None:
    """Command line for an agent file: ``python agent.py start|dev|connect|console|download-files``.
    """
    import typer

    from flowagents.cli.console_job import console_command
    from flowagents.cli.worker_cmd import add_worker_commands

    if not isinstance(opts, WorkerOptions):
        raise TypeError(f"run_app takes WorkerOptions, not {type(opts).__name__}")
    app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="Run this agent: as a LiveKit worker, or locally (console).")
    add_worker_commands(app, lambda: opts)
    app.command("console")(console_command(lambda: opts))
    app.command("download-files")(download_files)
    app()


def download_files() -> None:
    """Verify and cache the offline models' files (they ship in PyPI packages: nothing is
    downloaded from a model hub); a model whose package is missing is named with its extra."""
    import typer

    from flowagents.plugins.model_files import (
        PIPER_JOE,
        SILERO_VAD,
        SMOLLM2_135M,
        WHISPER_TINY_EN,
        ModelChecksumError,
        ModelNotInstalledError,
        ensure_model,
    )

    failed = False
    for spec in (SILERO_VAD, WHISPER_TINY_EN, SMOLLM2_135M, PIPER_JOE):
        try:
            path = ensure_model(spec)
        except ModelNotInstalledError as e:
            typer.echo(f"{spec.name}: not installed ({e})")
            continue
        except ModelChecksumError as e:
            typer.echo(f"{spec.name}: {e}", err=True)
            failed = True
            continue
        typer.echo(f"{spec.name}: ready in {path}")
    if failed:
        raise typer.Exit(1)
