"""Importing the user's code for a command: a module name or a file path, mistakes as one line.

``console``, ``graph`` and the worker commands all take the user's code as ``module[:attr]`` or
``path/to/file.py[:attr]``. A mistake there (no such module or file, no such attribute, a syntax
error or an exception while the file is imported) is the user's, not ours, so it becomes a
:class:`LoadError` whose message says what is wrong and where (``file:line``), and the command
prints that line and exits non-zero; the traceback is kept as the error's cause and is printed
only with ``--verbose``. The current directory and a file's own folder are importable, as they
are for ``python -m module`` and ``python file.py``; a file is imported under its own name, so
that job processes (which import entrypoints by reference) find it again.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Annotated, Any, NoReturn

import typer

__all__ = ["LoadError", "Verbose", "exit_with", "import_target", "resolve_attr", "split_target",
           "user_frame"]

Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", help="On an error, print the traceback behind it as well.")]


class LoadError(Exception):
    """The user's code could not be loaded: the message says what and where."""


def split_target(target: str) -> tuple[str, str]:
    """``'pkg.mod:attr'`` -> ``('pkg.mod', 'attr')``; ``attr`` is ``''`` when absent.

    A Windows drive letter (``C:\\agent.py``) is not an attribute separator.
    """
    head, sep, attr = target.rpartition(":")
    if not sep or not head or os.sep in attr or "/" in attr or attr.endswith(".py"):
        return target, ""
    return head, attr


def _is_path(name: str) -> bool:
    return name.endswith(".py") or "/" in name or os.sep in name


def import_target(name: str) -> ModuleType:
    """Import ``name``, a dotted module name or a Python file's path (see the module docstring)."""
    if os.getcwd() not in sys.path:  # as with `python -m`: the current directory is importable
        sys.path.insert(0, os.getcwd())
    if _is_path(name):
        return _import_file(Path(name))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise LoadError(f"no module named {name!r} in {os.getcwd()} or on the Python path "
                            f"(a file elsewhere is named by its path: path/to/agent.py)"
                            ) from None
        raise _failed(name, e) from e
    except Exception as e:
        raise _failed(name, e) from e


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        guess = path.with_name(path.name + ".py")
        hint = f" (did you mean {guess}?)" if path.suffix != ".py" and guess.is_file() else ""
        raise LoadError(f"file {str(path)!r} not found{hint}")
    if path.suffix != ".py":
        raise LoadError(f"{str(path)!r} is not a Python file (.py)")
    path = path.resolve()
    folder = str(path.parent)
    if folder not in sys.path:  # as when the file is run as a script: its siblings import
        sys.path.insert(0, folder)
    loaded = sys.modules.get(path.stem)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    try:
        if loaded is None:
            module = importlib.import_module(path.stem)
            if getattr(module, "__file__", None) == str(path):
                return module
        # the name is taken (a stdlib or installed module): load the file under a private name
        return _exec_file(path, f"_flowagents_file_{abs(hash(str(path)))}")
    except LoadError:
        raise
    except Exception as e:
        raise _failed(str(path), e) from e


def _exec_file(path: Path, name: str) -> ModuleType:
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _failed(name: str, error: BaseException) -> LoadError:
    """A one-line LoadError for an exception raised while importing ``name``."""
    if isinstance(error, SyntaxError):
        place = f"{error.filename}:{error.lineno}" if error.filename else name
        return LoadError(f"syntax error in {place}: {error.msg}")
    where = user_frame(error.__traceback__)
    at = f" (at {where})" if where else ""
    return LoadError(f"importing {name} failed: {type(error).__name__}: {error}{at}")


def user_frame(tb: TracebackType | None) -> str | None:
    """``file:line`` of the innermost frame outside Python's import machinery."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith("<frozen")
              and "importlib" not in f.filename]
    if not frames:
        return None
    return f"{frames[-1].filename}:{frames[-1].lineno}"


def resolve_attr(module: ModuleType, attr: str, target: str) -> Any:
    """``module.attr`` (dots walk into objects); a LoadError naming what exists otherwise."""
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in vars(module) if not n.startswith("_"))[:12]
            known = f" (it has: {', '.join(public)})" if public else ""
            raise LoadError(f"{target}: {module.__name__!r} has no attribute {attr!r}{known}")
        obj = getattr(obj, part)
    return obj


def exit_with(error: BaseException, *, verbose: bool, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` (and with ``verbose`` the traceback first), exit ``code``."""
    cause = error.__cause__ or error
    if verbose:
        traceback.print_exception(cause, file=sys.stderr)
    hint = "" if verbose or cause is error else " (--verbose for the traceback)"
    typer.echo(f"error: {error}{hint}", err=True)
    raise typer.Exit(code)
