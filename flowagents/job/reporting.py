"""What a job process tells the worker besides its status: log records and latency metrics.

:class:`IPCLogHandler` replaces stderr logging in a job process: each record (with the job's
``log_context_fields``) goes to the worker, which re-emits it through its own logging, so one
place (the worker's handlers) formats, ships and filters every job's logs. :func:`metrics_values`
turns a voice metrics event into the few latency figures the worker exports per job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flowagents.ipc.messages import LogRecordMessage

__all__ = ["IPCLogHandler", "metrics_values", "record_from_message"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SCALARS = (str, int, float, bool)


class IPCLogHandler(logging.Handler):
    """Sends records to ``send`` (which must not block; it may be called from any thread)."""

    def __init__(self, send: Callable[[LogRecordMessage], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {k: (v if isinstance(v, _SCALARS) or v is None else str(v))
                      for k, v in vars(record).items() if k not in _STANDARD}
            exc_text = None
            if record.exc_info:
                exc_text = logging.Formatter().formatException(record.exc_info)
            self._send(LogRecordMessage(name=record.name, level=record.levelno,
                                        message=record.getMessage(), created=record.created,
                                        exc_text=exc_text, fields=fields))
        except Exception:
            self.handleError(record)


def record_from_message(msg: LogRecordMessage, **extra: Any) -> logging.LogRecord:
    """A worker-side record for a job's message (its fields as attributes)."""
    attrs: dict[str, Any] = {**msg.fields, **extra}
    attrs.update(name=msg.name, levelno=msg.level, levelname=logging.getLevelName(msg.level),
                 msg=msg.message, args=None, created=msg.created, exc_text=msg.exc_text)
    return logging.makeLogRecord(attrs)


def metrics_values(metrics: Any) -> dict[str, float]:
    """Latency figures (seconds) of an ``AgentMetrics`` event; empty for other events."""
    from flowagents.metrics import EOUMetrics, LLMMetrics, STTMetrics, TTSMetrics

    out: dict[str, float] = {}
    if isinstance(metrics, LLMMetrics):
        if metrics.ttft >= 0:
            out["llm_ttft"] = metrics.ttft
        out["llm_duration"] = metrics.duration
    elif isinstance(metrics, TTSMetrics):
        if metrics.ttfb >= 0:
            out["tts_ttfb"] = metrics.ttfb
        out["tts_duration"] = metrics.duration
    elif isinstance(metrics, STTMetrics):
        out["stt_duration"] = metrics.duration
    elif isinstance(metrics, EOUMetrics):
        out["eou_delay"] = metrics.end_of_utterance_delay
        out["transcription_delay"] = metrics.transcription_delay
    return out
