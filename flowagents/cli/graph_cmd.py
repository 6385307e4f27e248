"""``flowagents graph``: render a graph (SVG, PNG, PDF, DOT, JSON or YAML spec) and validate it.

A graph is named the way a test names a fixture: ``module:function`` (``graphs.voice:voice``) or
``path/to/file.py:function``; the function is called with no arguments and returns a
:class:`Graph`. A spec file (``.json``, ``.yaml``, ``.yml``) names a graph too. The current
directory is importable, as it is for ``python -m``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from flowagents.graph import (
    Graph,
    GraphError,
    SpecError,
    graph_to_json,
    graph_to_yaml,
    to_dot,
    to_image,
)

from .loading import (
    LoadError,
    Verbose,
    exit_with,
    import_target,
    resolve_attr,
    split_target,
    user_frame,
)

__all__ = ["Format", "GraphLoadError", "app", "load_graph"]

app = typer.Typer(name="graph", no_args_is_help=True, add_completion=False,
                  help="Render, export and validate graphs.")

_SPEC_SUFFIXES = (".json", ".yaml", ".yml")


class Format(enum.StrEnum):
    svg = "svg"
    png = "png"
    pdf = "pdf"
    dot = "dot"
    json = "json"
    yaml = "yaml"


_SUFFIXES = {".svg": Format.svg, ".png": Format.png, ".pdf": Format.pdf, ".dot": Format.dot,
             ".gv": Format.dot, ".json": Format.json, ".yaml": Format.yaml, ".yml": Format.yaml}


class GraphLoadError(LoadError):
    """The target does not name a graph: no such module or attribute, or not a Graph."""


def load_graph(target: str) -> Graph:
    """The graph that ``target`` names (see the module docstring); :class:`GraphLoadError` if none.

    A spec file that does not load raises :class:`SpecError` with its location.
    """
    if target.endswith(_SPEC_SUFFIXES):
        from flowagents.graph.spec import graph_from_spec, spec_from_json, spec_from_yaml

        try:
            text = Path(target).read_text(encoding="utf-8")
        except OSError as e:
            raise GraphLoadError(f"cannot read spec file {target!r}: {e.strerror}") from None
        reader = spec_from_json if target.endswith(".json") else spec_from_yaml
        return graph_from_spec(reader(text))
    module_name, attr = split_target(target)
    if not attr:
        raise GraphLoadError(f"expected 'module:function' or 'path/to/file.py:function', "
                             f"got {target!r}")
    obj: Any = resolve_attr(import_target(module_name), attr, target)
    if isinstance(obj, Graph):
        return obj
    if not callable(obj):
        raise GraphLoadError(f"{target} is {type(obj).__name__}, not a function returning a Graph")
    try:
        graph = obj()
    except Exception as e:
        where = user_frame(e.__traceback__)
        at = f" (at {where})" if where else ""
        raise GraphLoadError(f"{target}() failed: {type(e).__name__}: {e}{at}") from e
    if not isinstance(graph, Graph):
        raise GraphLoadError(f"{target}() returned {type(graph).__name__}, not a Graph")
    return graph


def _load_or_exit(target: str, verbose: bool) -> Graph:
    try:
        return load_graph(target)
    except LoadError as e:
        exit_with(e, verbose=verbose, code=2)
    except SpecError as e:
        message = f"invalid spec at {e}" if e.location else f"invalid spec: {e}"
        exit_with(LoadError(message), verbose=verbose, code=2)
    except GraphError as e:
        exit_with(e, verbose=verbose, code=2)


_TARGET = Annotated[str, typer.Argument(
    metavar="TARGET", help="module:function, path/to/file.py:function, or a .json/.yaml spec.")]


@app.command()
def render(
    target: _TARGET,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output).")] = None,
    format: Annotated[Format | None, typer.Option(
        "--format", "-f", help="Default: from the output's suffix (.svg .png .pdf .dot .json "
        ".yaml), else svg.")] = None,
    verbose: Verbose = False,
) -> None:
    """Draw a graph as SVG, PNG, PDF or DOT, or write its spec as JSON or YAML."""
    fmt = format or _format_of(output)
    if output is not None and not output.parent.is_dir():
        exit_with(LoadError(f"cannot write {output}: folder {str(output.parent)!r} does not "
                            f"exist"), verbose=False, code=2)
    if fmt in (Format.png, Format.pdf) and output is None:
        exit_with(LoadError(f"{fmt.value} is binary: give a file with -o"), verbose=False, code=2)
    graph = _load_or_exit(target, verbose)
    try:
        if fmt in (Format.svg, Format.png, Format.pdf):
            data = to_image(graph, fmt.value)
        elif fmt is Format.dot:
            data = to_dot(graph).encode()
        elif fmt is Format.json:
            data = (graph_to_json(graph) + "\n").encode()
        else:
            data = graph_to_yaml(graph).encode()
    except (GraphError, ValueError) as e:
        typer.echo(f"error: cannot write {fmt.value}: {e}", err=True)
        raise typer.Exit(1) from None
    if output is None:
        typer.echo(data.decode(), nl=False)
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output} ({fmt.value}, {len(graph)} nodes)", err=True)


@app.command()
def validate(target: _TARGET, verbose: Verbose = False) -> None:
    """Check a graph (port types, required inputs, cycles, feedback) and list every problem."""
    graph = _load_or_exit(target, verbose)
    problems = graph.problems()
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"graph {graph.name!r} is valid: {len(graph)} nodes, {len(graph.edges())} edges")


def _format_of(output: Path | None) -> Format:
    """The format an output file's suffix names; svg without a file; refused when unknown."""
    if output is None:
        return Format.svg
    fmt = _SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        known = " ".join(_SUFFIXES)
        exit_with(LoadError(f"cannot tell the format of {output}: name it {known}, or give "
                            f"--format"), verbose=False, code=2)
    return fmt
