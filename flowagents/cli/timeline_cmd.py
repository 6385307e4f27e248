"""``flowagents timeline session.jsonl -o timeline.svg``: draw a recorded session.

A session records with ``AgentSession(record=...)`` (or ``--record`` on the console and the
worker); this draws the recording with one lane per stage and each turn's latency
(:mod:`flowagents.session.timeline`). The format follows the output's suffix (SVG, PNG, PDF).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["timeline"]


def timeline(
    recording: Annotated[Path, typer.Argument(help="A session recording (JSON lines).",
                                              exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output",
                                         help="Where to draw it (.svg, .png or .pdf).")
                      ] = Path("timeline.svg"),
) -> None:
    """Draw a recorded session as a timeline: one lane per stage, turn latencies annotated."""
    try:
        from flowagents.session.timeline import render_timeline
    except ImportError as e:  # pragma: no cover - matplotlib is the only optional import
        typer.echo(f"error: the timeline needs matplotlib ({e.name}): "
                   "pip install 'flowagents[notebooks]'", err=True)
        raise typer.Exit(1) from None
    try:
        out = render_timeline(recording, output)
    except (ValueError, KeyError) as e:
        typer.echo(f"error: {recording} cannot be drawn: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}")
