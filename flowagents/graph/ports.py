"""Port declarations and references, and the stream-type names used in specs and pictures.

A node class declares its ports with :func:`In` and :func:`Out`; a port in a built graph is named
by a :class:`PortRef` (``"node.port"``). Stream types are plain Python classes; their names in a
spec come from a small registry so that ``AudioFrame`` round-trips without an import path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANY",
    "In",
    "Out",
    "PortDecl",
    "PortRef",
    "is_compatible",
    "register_type",
    "resolve_type",
    "type_name",
]

ANY: Any = object
"""The wildcard stream type: an ``ANY`` port accepts and feeds every type."""


@dataclass(frozen=True, slots=True)
class PortDecl:
    """A typed input or output port of a node class."""

    name: str
    type: Any = ANY
    required: bool = True
    doc: str = ""


def In(name: str, type: Any = ANY, *, required: bool = True, doc: str = "") -> PortDecl:  # noqa: N802
    return PortDecl(name, type, required, doc)


def Out(name: str, type: Any = ANY, *, doc: str = "") -> PortDecl:  # noqa: N802
    return PortDecl(name, type, True, doc)


@dataclass(frozen=True, slots=True, order=True)
class PortRef:
    """A port of a named node in a graph: ``PortRef("vad", "events")`` is ``"vad.events"``."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"

    @classmethod
    def parse(cls, text: str) -> PortRef:
        node, sep, port = text.rpartition(".")
        if not sep or not node or not port:
            raise ValueError(f"expected 'node.port', got {text!r}")
        return cls(node, port)


_TYPES_BY_NAME: dict[str, Any] = {}
_NAMES_BY_TYPE: dict[Any, str] = {}


def register_type(tp: Any, name: str | None = None) -> Any:
    """Give a stream type a short name for specs (``"AudioFrame"`` instead of an import path)."""
    key: str = name if name is not None else str(getattr(tp, "__name__", tp))
    _TYPES_BY_NAME[key] = tp
    _NAMES_BY_TYPE[tp] = key
    return tp


def type_name(tp: Any) -> str:
    """The spec name of a stream type: its registered name, else ``module:QualName``."""
    if tp in _NAMES_BY_TYPE:
        return _NAMES_BY_TYPE[tp]
    module = getattr(tp, "__module__", None)
    qualname = getattr(tp, "__qualname__", None)
    if module and qualname:
        return f"{module}:{qualname}"
    return str(tp)


def resolve_type(name: str) -> Any:
    """The stream type for a spec name; raises ``LookupError`` with the name when unknown."""
    if name in _TYPES_BY_NAME:
        return _TYPES_BY_NAME[name]
    module, sep, qualname = name.partition(":")
    if not sep:
        raise LookupError(f"unknown stream type {name!r}")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise LookupError(f"unknown stream type {name!r}") from None
    return obj


def is_compatible(source: Any, target: Any) -> bool:
    """Whether a stream of ``source`` values may feed a port that expects ``target`` values."""
    if source is ANY or target is ANY or source == target:
        return True
    if isinstance(source, type) and isinstance(target, type):
        return issubclass(source, target)
    return False


def _register_builtins() -> None:
    from flowagents import types as t

    register_type(ANY, "Any")
    for builtin in (bool, int, float, str, bytes):
        register_type(builtin)
    for cls in (
        t.AudioFrame, t.VADEvent, t.SpeechEvent, t.ChatChunk, t.SynthesizedAudio, t.TokenUsage,
    ):
        register_type(cls)


_register_builtins()
