"""Checks for the callbacks a user hands to flowagents, made when they are handed over.

LiveKit-style APIs take functions of a given shape: ``entrypoint_fnc`` is awaited with a job
context, a shutdown callback is awaited, ``prewarm_fnc`` is called without ``await``. A function
of the wrong shape would fail far from the mistake (a coroutine never awaited in a job process,
a ``TypeError`` at shutdown, long after the line that passed it), so each API checks what it is
given at once and raises a ``TypeError`` saying what it accepts.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["check_callback", "is_async_callable"]


def is_async_callable(fn: Any) -> bool:
    """An ``async def`` function, method, partial of one, or object whose ``__call__`` is one."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 (an async __call__ is what we look for)
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(call)


def _positional(fn: Callable[..., Any]) -> tuple[int, int | None] | None:
    """(required, maximum) positional arguments (maximum None: ``*args``); None if unknown."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = sum(1 for p in params if p.kind in kinds and p.default is p.empty)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return required, None
    return required, sum(1 for p in params if p.kind in kinds)


def _describe(fn: Any) -> str:
    if not callable(fn):
        return f"{type(fn).__name__} {fn!r}"[:80]
    while isinstance(fn, functools.partial):
        fn = fn.func
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    name = name.rpartition("<locals>.")[2]
    kind = "coroutine function" if is_async_callable(fn) else "plain function"
    return f"the {kind} {name}"


def check_callback(fn: Any, *, where: str, expects: str, is_async: bool,
                   args: tuple[int, ...]) -> None:
    """Raise ``TypeError`` unless ``fn`` is callable, async or not as ``is_async`` says, and can
    be called with one of the positional argument counts in ``args``. Where an async function is
    expected a ``lambda`` passes (``lambda reason: on_end(job, reason)`` returns a coroutine;
    what a lambda returns cannot be known before it is called), but a ``def`` does not.

    ``where`` names the API (``"JobContext.add_shutdown_callback"``) and ``expects`` shows what it
    takes (``"async def callback() or async def callback(reason: str)"``).
    """
    def refuse(why: str) -> TypeError:
        return TypeError(f"{where} takes {expects}; got {_describe(fn)} ({why})")

    if not callable(fn):
        raise refuse("not callable")
    wrapper = getattr(fn, "__name__", "") == "<lambda>"  # may return a coroutine: unknowable
    if is_async_callable(fn) is not is_async and not (is_async and wrapper):
        raise refuse("it is awaited" if is_async else "it is called without await, so an async "
                     "function's body would never run")
    shape = _positional(fn)
    if shape is None:
        return
    required, most = shape
    if not any(required <= n and (most is None or n <= most) for n in args):
        takes = (str(required) if most == required else
                 f"at least {required}" if most is None else f"{required} to {most}")
        counts = " or ".join(str(n) for n in args)
        raise refuse(f"it is called with {counts} argument{'' if args == (1,) else 's'}; "
                     f"this one takes {takes}")
