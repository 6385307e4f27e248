"""A short, safe text for any value that flows through a graph: what the live graph view shows.

A node's last value can be anything (an audio frame, a transcript, an LLM chunk, an agent that
holds a provider with its API key). The page shows it to whoever opens it, so the text is
built here from the value's data fields only, never from an arbitrary ``__repr__`` (which could
print a client, a key or a megabyte of samples): dataclasses and pydantic models show their
fields, containers their first items, arrays their dtype and shape, anything else its type name.
Fields named like credentials are masked, strings that look like keys or tokens are redacted,
and the whole is cut to ``limit`` characters. Cheap enough for once a second per node.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any

__all__ = ["safe_repr"]

_SECRET_NAME = re.compile(r"(?:^|_)(?:api_?key|keys?|token|secret|password|passwd|auth|"
                          r"authorization|credentials?|cookies?)(?:$|_)", re.I)
_SECRET_TEXT = re.compile(
    r"eyJ[\w-]{6,}\.[\w-]{6,}(?:\.[\w-]*)?"                     # a JWT
    r"|\b(?:sk|pk|rk|api|key)[-_][\w-]{8,}"                     # sk-..., api_..., key-...
    r"|\b(?:bearer|basic)\s+[\w.~+/=-]{8,}"                     # an Authorization header
    r"|\b(?:api[-_]?key|token|secret|password)\s*[=:]\s*\S+",  # key=value in a text
    re.I)
_MASK = "***"
_ITEMS = 3  # items shown of a sequence or mapping
_DEPTH = 3


def safe_repr(value: Any, limit: int = 80) -> str:
    """``value`` as at most ``limit`` characters, without secrets (see the module docstring)."""
    text = _text(value, _DEPTH, limit + 1)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _text(value: Any, depth: int, budget: int) -> str:
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return repr(_SECRET_TEXT.sub(_MASK, value)[:budget])  # redacted whole, then cut
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    name = type(value).__name__
    if depth <= 0:
        return f"{name}(…)" if _has_fields(value) else f"<{name}>"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if isinstance(shape, tuple) and dtype is not None:  # a numpy array (never its samples)
        return f"{dtype}{list(shape)}"
    if isinstance(value, dict):
        return _join("{", "}", ((f"{_text(k, 0, 20)}: ", k, v) for k, v in value.items()),
                     len(value), depth, budget)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        return _join(open_, close, (("", None, v) for v in items), len(value), depth, budget)
    fields = _fields(value)
    if fields is None:
        return f"<{name}>"
    return _join(f"{name}(", ")", ((f"{k}=", k, v) for k, v in fields), None, depth, budget)


def _has_fields(value: Any) -> bool:
    return dataclasses.is_dataclass(value) or hasattr(type(value), "model_fields")


def _fields(value: Any) -> list[tuple[str, Any]] | None:
    """The data fields of a dataclass or a pydantic model, else None (not shown)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name, None)) for f in dataclasses.fields(value)
                if f.repr]
    model_fields = getattr(type(value), "model_fields", None)
    if isinstance(model_fields, dict):
        return [(k, getattr(value, k, None)) for k, f in model_fields.items()
                if getattr(f, "repr", True)]
    return None


def _join(open_: str, close: str, items: Any, count: int | None, depth: int,
          budget: int) -> str:
    """``open_ item, item, … close``: stops once the budget is spent or after a few items
    of a container (``count`` set); a field or key named like a credential is masked."""
    parts: list[str] = []
    used = len(open_)
    for i, (label, key, item) in enumerate(items):
        if used >= budget or (count is not None and i >= _ITEMS):
            parts.append("…")
            break
        secret = isinstance(key, str) and _SECRET_NAME.search(key) is not None
        part = label + (_MASK if secret else _text(item, depth - 1, budget - used))
        parts.append(part)
        used += len(part) + 2
    return open_ + ", ".join(parts) + close
