"""Adds the current job's ``log_context_fields`` to every log record emitted inside a job.

Installed once per job process as a log-record factory, so library and user loggers alike get the
job id, room and any fields the entrypoint adds, without each call site passing ``extra=``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["install_log_context"]

_installed = False


def install_log_context(fields: Callable[[], Mapping[str, Any] | None]) -> None:
    """Make every new log record carry ``fields()`` as attributes (existing ones win)."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        extra = fields()
        if extra:
            for key, value in extra.items():
                if key not in record.__dict__:
                    record.__dict__[key] = value
        return record

    logging.setLogRecordFactory(factory)
