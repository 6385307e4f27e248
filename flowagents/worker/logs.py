"""How a worker's log lines look: text for a terminal, JSON (one object a line) for production.

Every line carries the record's context: the ``extra=`` fields (job id, room, worker id, error,
...) that the standard ``%(message)s`` format drops, the traceback when there is one (a job's
arrives as text over IPC), and the job process's pid for a job's relayed records. The JSON format
is python-json-logger's, as LiveKit Agents uses; the text format writes the fields as
``key=value`` after the message. Secrets never reach a record in the first place (the API secret
is a ``SecretStr``, connection errors carry no token); these formatters add nothing to that.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

__all__ = ["LogFormat", "TextFormatter", "json_formatter", "setup_logging"]

LogFormat = Literal["text", "json"]

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {k: v for k, v in vars(record).items()
              if k not in _STANDARD and not k.startswith("_")}
    if record.process is not None and record.process != os.getpid():
        fields["pid"] = record.process  # a job process's record, relayed by the worker
    return fields


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if text and not any(c in text for c in ' "=\n'):
        return text
    return json.dumps(text)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...``, then the traceback on the next lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        head, sep, trace = line.partition("\n")
        fields = _fields(record)
        if fields:
            head += " " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        return head + sep + trace


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time, level, name, message, pid, every extra field, exc_info."""
    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
                         rename_fields={"asctime": "time", "levelname": "level",
                                        "process": "pid"})


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_installed: logging.Handler | None = None


def setup_logging(level: str | int, fmt: LogFormat = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` (replacing only a handler installed here before)."""
    global _installed
    handler = _StderrHandler()
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    _installed = handler
    root.setLevel(level)
