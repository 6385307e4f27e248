"""``flowagents graph``: render a graph (SVG, DOT, JSON or YAML spec) and validate it.

A graph is named the way a test names a fixture: ``module:function`` (``graphs.voice:voice``) or
``path/to/file.py:function``; the function is called with no arguments and returns a
:class:`Graph`. A spec file (``.json``, ``.yaml``, ``.yml``) names a graph too. The current
directory is importable, as it is for ``python -m``.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from flowagents.graph import (
    Graph,
    GraphError,
    SpecError,
    graph_to_json,
    graph_to_yaml,
    to_dot,
    to_svg,
)

__all__ = ["Format", "GraphLoadError", "app", "load_graph"]

app = typer.Typer(name="graph", no_args_is_help=True, add_completion=False,
                  help="Render, export and validate graphs.")

_SPEC_SUFFIXES = (".json", ".yaml", ".yml")


class Format(enum.StrEnum):
    svg = "svg"
    dot = "dot"
    json = "json"
    yaml = "yaml"


class GraphLoadError(Exception):
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
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise GraphLoadError(f"expected 'module:function' or 'path/to/file.py:function', "
                             f"got {target!r}")
    obj: Any = _import(module_name)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise GraphLoadError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, Graph):
        return obj
    if not callable(obj):
        raise GraphLoadError(f"{target} is {type(obj).__name__}, not a function returning a Graph")
    try:
        graph = obj()
    except Exception as e:
        raise GraphLoadError(f"{target}() failed: {type(e).__name__}: {e}") from e
    if not isinstance(graph, Graph):
        raise GraphLoadError(f"{target}() returned {type(graph).__name__}, not a Graph")
    return graph


def _import(name: str) -> ModuleType:
    if name.endswith(".py") or "/" in name or os.sep in name:
        return _import_file(Path(name))
    if os.getcwd() not in sys.path:  # as with `python -m`: the current directory is importable
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise GraphLoadError(f"module {name!r} not found (is it on the path, or did you "
                                 f"mean a file path?)") from None
        raise GraphLoadError(f"importing {name!r} failed: {e}") from e
    except Exception as e:
        raise GraphLoadError(f"importing {name!r} failed: {type(e).__name__}: {e}") from e


def _import_file(path: Path) -> ModuleType:
    """Import a Python file as its own module (named after it), its folder importable."""
    if not path.is_file():
        raise GraphLoadError(f"file {str(path)!r} not found")
    path = path.resolve()
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if getattr(loaded, "__file__", None) == str(path):
            return loaded
        name = f"_flowagents_file_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphLoadError(f"cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:  # as when the file is run as a script
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise GraphLoadError(f"importing {str(path)!r} failed: {type(e).__name__}: {e}") from e
    return module


def _load_or_exit(target: str) -> Graph:
    try:
        return load_graph(target)
    except GraphLoadError as e:
        cause = e.__cause__
        if cause is not None and not isinstance(cause, GraphError | ImportError):
            traceback.print_exception(cause)  # a bug in the user's code: show where
        typer.echo(f"error: {e}", err=True)
    except SpecError as e:
        typer.echo(f"error: invalid spec at {e}" if e.location else f"error: invalid spec: {e}",
                   err=True)
    except GraphError as e:
        typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


_TARGET = Annotated[str, typer.Argument(
    metavar="TARGET", help="module:function, path/to/file.py:function, or a .json/.yaml spec.")]


@app.command()
def render(
    target: _TARGET,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output).")] = None,
    format: Annotated[Format | None, typer.Option(
        "--format", "-f", help="Default: from the output's suffix, else svg.")] = None,
) -> None:
    """Draw a graph as SVG or DOT, or write its spec as JSON or YAML."""
    graph = _load_or_exit(target)
    fmt = format or _format_of(output)
    try:
        if fmt is Format.svg:
            text = to_svg(graph)
        elif fmt is Format.dot:
            text = to_dot(graph)
        elif fmt is Format.json:
            text = graph_to_json(graph) + "\n"
        else:
            text = graph_to_yaml(graph)
    except (GraphError, ValueError) as e:
        typer.echo(f"error: cannot write {fmt.value}: {e}", err=True)
        raise typer.Exit(1) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output} ({fmt.value}, {len(graph)} nodes)", err=True)


@app.command()
def validate(target: _TARGET) -> None:
    """Check a graph (port types, required inputs, cycles, feedback) and list every problem."""
    graph = _load_or_exit(target)
    problems = graph.problems()
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"graph {graph.name!r} is valid: {len(graph)} nodes, {len(graph.edges())} edges")


def _format_of(output: Path | None) -> Format:
    suffix = output.suffix.lower() if output is not None else ""
    return {".dot": Format.dot, ".gv": Format.dot, ".json": Format.json, ".yaml": Format.yaml,
            ".yml": Format.yaml}.get(suffix, Format.svg)
