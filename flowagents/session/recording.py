"""Session recordings: what a conversation did and when, as JSON lines (``record=`` on a session).

A bug seen live is a sequence of timings; this module keeps them so that a timeline can draw them
(``flowagents timeline``) and the testing kit can replay them (``Script.from_recording``). The
recorder subscribes to the graph's outputs (VAD events, transcripts, playout, and each LLM and
TTS request of a reply with its input, output and timing: what the providers really answered is
what a replay needs) and to the session's events (agent and user states, endpointing metrics,
user turns, errors). It only listens: the session's providers stay the user's own objects
(``session.llm is my_llm``), with no recording proxy around them.

The first line is a header (``type: "session"``: format version, wall-clock start, the session
options); every other line is one event with ``t``, seconds since the session started on its
clock. Event types: ``vad`` (start/end of speech: ``at`` is the speech's own start/end time),
``transcript`` (interim or final), ``endpointing`` (a turn committed: delays), ``user_turn``,
``llm`` and ``tts`` (one request each, written when it ends: ``start``, ``first`` and ``t``, the
end; an LLM request's ``chunks`` are its text pieces with their times after the call; each
retry is a request of its own; ``error`` names the error a failed one raised, with
``retryable``),
``playout`` (started, paused, resumed, cleared, step_done with what was heard), ``interruption``
(a false interruption), ``agent_state``, ``user_state``, ``error`` (the error's type only: no
message that could carry a secret) and ``close``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from reactivex import Observable
from reactivex.disposable import CompositeDisposable

from flowagents.llm import ChatMessage
from flowagents.metrics import EOUMetrics
from flowagents.runtime import GraphRuntime
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.events import (
    AgentEvent,
    AgentStateChangedEvent,
    CloseEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    MetricsCollectedEvent,
    UserStateChangedEvent,
)
from flowagents.voice.options import SessionOptions
from flowagents.voice.signals import FalseInterruptionExpired, PlaybackEvent, ProviderRequest


class RecordedSession(Protocol):
    """What the recorder reads of a session (the session module imports this one)."""

    options: SessionOptions

    @property
    def events(self) -> Observable[AgentEvent]: ...

    def now(self) -> float: ...

__all__ = ["FORMAT_VERSION", "RECORD_ENV", "SessionRecorder", "default_record_path",
           "read_recording"]

FORMAT_VERSION = 1
RECORD_ENV = "FLOWAGENTS_RECORD"
"""Where sessions built without ``record=`` record (``--record`` on the console and the worker
sets it, and job processes inherit it): a ``.jsonl`` file, or a directory that gets one file per
session."""
_numbers = itertools.count(1)
logger = logging.getLogger("flowagents.recording")


def default_record_path() -> Path | None:
    """The recording path :data:`RECORD_ENV` asks for (a new file per session in a directory)."""
    value = os.environ.get(RECORD_ENV, "")
    if not value:
        return None
    path = Path(value)
    if path.suffix == ".jsonl":
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return path / f"session-{stamp}-{os.getpid()}-{next(_numbers)}.jsonl"


def read_recording(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the events of a recording, events in the order they were written."""
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or lines[0].get("type") != "session":
        raise ValueError(f"{path} is not a flowagents session recording (no session header)")
    if lines[0].get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: recording format {lines[0].get('version')} is not "
                         f"{FORMAT_VERSION}")
    return lines[0], lines[1:]


class SessionRecorder:
    """Writes one session's events to ``path`` (see the module docstring).

    Built by the session when it is given ``record=``: :meth:`attach` once the graph runs,
    :meth:`close` when the session closes. With no ``path`` it
    keeps the records in :attr:`records` instead (what ``simulate`` does, for ``plot()``).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.header: dict[str, Any] = {}
        self.records: list[dict[str, Any]] = []  # the events, when there is no file
        self._file: IO[str] | None = None
        self._t0 = 0.0
        self._now: Callable[[], float] = time.monotonic
        self._subscriptions = CompositeDisposable()

    # -- life ------------------------------------------------------------------------------
    def attach(self, session: RecordedSession, runtime: GraphRuntime) -> None:
        """Open the file, write the header and follow the running graph and the session."""
        self._now = session.now
        self._t0 = session.now()
        self.header = {"type": "session", "version": FORMAT_VERSION, "wall": time.time(),
                       "options": session.options.model_dump()}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
            self._write(self.header)
        subs = self._subscriptions
        outputs = runtime.graph.output_names
        follow: dict[str, Callable[[Any], None]] = {
            "vad_events": self._on_vad, "user_transcripts": self._on_transcript,
            "playback": self._on_playback, "false_interruptions": self._on_false,
            "llm_requests": self._on_request, "tts_requests": self._on_request}
        for name, handler in follow.items():
            if name in outputs:
                subs.add(runtime.output(name).subscribe(self._guard(handler)))
        subs.add(session.events.subscribe(self._guard(self._on_event)))

    def _guard(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        """A recorder's failure (a full disk) must not reach the graph: it stops recording."""
        def safe(value: Any) -> None:
            try:
                handler(value)
            except Exception:
                logger.exception("session recording failed; recording stopped")
                self.close()

        return safe

    def close(self) -> None:
        self._subscriptions.dispose()
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- writing ---------------------------------------------------------------------------
    def rel(self, t: float) -> float:
        """``t`` on the session clock as seconds since the session started (microseconds)."""
        return round(t - self._t0, 6)

    def now(self) -> float:
        return self._now()

    def event(self, kind: str, t: float, /, **fields: Any) -> None:
        record = {"t": self.rel(t), "type": kind, **fields}
        if self.path is None:
            self.records.append(record)
        else:
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    # -- what it follows -------------------------------------------------------------------
    def _on_vad(self, ev: VADEvent) -> None:
        if ev.type is VADEventType.INFERENCE_DONE:
            return
        self.event("vad", self.now(), event=ev.type.value, at=self.rel(ev.timestamp))

    def _on_transcript(self, ev: SpeechEvent) -> None:
        if ev.type not in (SpeechEventType.INTERIM_TRANSCRIPT, SpeechEventType.FINAL_TRANSCRIPT):
            return
        self.event("transcript", self.now(), final=ev.type is SpeechEventType.FINAL_TRANSCRIPT,
                   text=ev.text)

    def _on_playback(self, ev: PlaybackEvent) -> None:
        fields: dict[str, Any] = {"kind": ev.kind, "speech_id": ev.speech.handle.id}
        step = ev.step
        if step is not None:
            fields.update(text=step.text, position=round(step.position, 6),
                          interrupted=step.interrupted, ended_at=self.rel(step.ended_at),
                          started_at=None if step.started_at is None
                          else self.rel(step.started_at))
        self.event("playout", ev.time, **fields)

    def _on_false(self, ev: FalseInterruptionExpired) -> None:
        self.event("interruption", ev.time, resumed=False)

    def _on_request(self, r: ProviderRequest) -> None:
        first = None if r.first is None else self.rel(r.first)
        failed = {} if r.error is None else {"retryable": r.retryable}
        if r.kind == "llm":
            self.event("llm", r.end, start=self.rel(r.start), first=first, input=r.input,
                       content=r.content, chunks=[list(c) for c in r.chunks],
                       tool_calls=[{"name": n, "arguments": a} for n, a in r.tool_calls],
                       cancelled=r.cancelled, error=r.error, **failed)
        else:
            self.event("tts", r.end, start=self.rel(r.start), first=first, text=r.input,
                       audio=r.audio, cancelled=r.cancelled, error=r.error, **failed)

    def _on_event(self, ev: AgentEvent) -> None:
        if isinstance(ev, AgentStateChangedEvent):
            self.event("agent_state", ev.created_at, old=ev.old_state, new=ev.new_state)
        elif isinstance(ev, UserStateChangedEvent):
            self.event("user_state", ev.created_at, old=ev.old_state, new=ev.new_state)
        elif isinstance(ev, MetricsCollectedEvent) and isinstance(ev.metrics, EOUMetrics):
            m = ev.metrics
            self.event("endpointing", m.timestamp, delay=round(m.end_of_utterance_delay, 6),
                       transcription_delay=round(m.transcription_delay, 6))
        elif (isinstance(ev, ConversationItemAddedEvent) and isinstance(ev.item, ChatMessage)
              and ev.item.role == "user"):
            self.event("user_turn", ev.created_at, text=ev.item.text_content or "")
        elif isinstance(ev, ErrorEvent):
            self.event("error", ev.created_at, error=type(ev.error).__name__,
                       source=str(ev.source))
        elif isinstance(ev, CloseEvent):
            self.event("close", ev.created_at, reason=str(ev.reason.value))
