"""Scripts for scripted conversations: what the user says and when, and how the providers answer.

A :class:`Script` is plain data that the fake providers of :mod:`flowagents.testing.fakes` read:
user speech segments (times on the session clock, in seconds), LLM replies keyed by their input,
and TTS audio keyed by its text. A test writes the conversation once, then asserts on the
timeline the real session produces from it in virtual time::

    script = Script()
    script.user_speech(start=0.5, end=2.5, transcript="Hello, how are you?", stt_delay=0.2)
    script.llm_reply(input="Hello, how are you?", content="I'm doing well, thank you!",
                     ttft=0.1, duration=0.3)
    script.tts_audio(input="I'm doing well, thank you!", audio_duration=2.0, ttfb=0.2,
                     duration=0.3)

Defaults (the module constants below): ``stt_delay`` 0.2 s; LLM ``ttft`` 0.1 s and ``duration``
0.3 s; TTS ``ttfb`` 0.2 s and ``duration`` 0.3 s; TTS ``audio_duration`` when not given is
:data:`SECONDS_PER_CHARACTER` per character of the text. Text is compared after collapsing
whitespace (``"a  b\\n"`` matches ``"a b"``); case and punctuation count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flowagents.errors import APIConnectionError, APIError, APIStatusError, APITimeoutError

__all__ = [
    "DEFAULT_LLM_DURATION",
    "DEFAULT_LLM_TTFT",
    "DEFAULT_STT_DELAY",
    "DEFAULT_TTS_DURATION",
    "DEFAULT_TTS_TTFB",
    "SECONDS_PER_CHARACTER",
    "FakeToolCall",
    "LLMReply",
    "ProviderFault",
    "Script",
    "TTSAudio",
    "UserSpeech",
    "normalize_text",
    "recorded_agent_states",
    "script_from_recording",
]

DEFAULT_STT_DELAY = 0.2
"""Seconds from the end of a speech segment to its final transcript (the interim comes at half)."""
DEFAULT_LLM_TTFT = 0.1
"""Seconds from an LLM call to its first chunk."""
DEFAULT_LLM_DURATION = 0.3
"""Seconds from an LLM call to its last chunk (the one with usage)."""
DEFAULT_TTS_TTFB = 0.2
"""Seconds from a TTS call to its first audio chunk."""
DEFAULT_TTS_DURATION = 0.3
"""Seconds from a TTS call to its last audio chunk."""
SECONDS_PER_CHARACTER = 0.05
"""Audio a fake TTS makes per character of text nobody scripted (about natural speaking rate)."""


def normalize_text(text: str) -> str:
    """``text`` with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class UserSpeech:
    """The user speaks from ``start`` to ``end``; an empty ``transcript`` is noise (VAD only)."""

    start: float
    end: float
    transcript: str = ""
    stt_delay: float = DEFAULT_STT_DELAY
    confidence: float = 1.0  # the STT's confidence in the transcript

    @property
    def is_noise(self) -> bool:
        return not self.transcript.strip()

    @property
    def interim(self) -> str:
        """The interim transcript: the first half of the words (rounded up)."""
        words = self.transcript.split()
        return " ".join(words[: (len(words) + 1) // 2])


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """A tool call the fake LLM makes. ``arguments`` as a dict is sent as JSON; a string is sent
    as is (so a test can send malformed arguments). ``call_id`` defaults to ``call_<n>``, ``n``
    counting the calls that fake LLM has made."""

    name: str
    arguments: Mapping[str, Any] | str = ""
    call_id: str = ""

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments or "{}"
        return json.dumps(dict(self.arguments))


FaultKind = Literal["error", "stall", "slow_first"]
ErrorKind = Literal["connection", "timeout", "status"]


@dataclass(frozen=True, slots=True)
class ProviderFault:
    """A provider failure the fakes play (see :meth:`Script.fault`)."""

    provider: Literal["stt", "llm", "tts"]
    kind: FaultKind
    at: float | None = None
    call: int | None = None
    after_chunks: int = 0
    delay: float = 1.0
    error: ErrorKind = "connection"
    retryable: bool = True
    #: seconds after the call at which it strikes (``call=`` only); None: when the chunk after
    #: the first ``after_chunks`` was due
    after: float | None = None

    def exception(self) -> APIError:
        """The typed error a real provider would raise for this fault."""
        if self.error == "timeout":
            return APITimeoutError("scripted timeout", retryable=self.retryable)
        if self.error == "status":
            return APIStatusError("scripted service error", status_code=503,
                                  retryable=self.retryable)
        return APIConnectionError("scripted connection error", retryable=self.retryable)

    def strikes(self, call: int, start: float, end: float) -> bool:
        """Whether this fault hits call number ``call`` (1-based) running from ``start`` to
        ``end``: that call, or any call in flight at ``at``."""
        if self.call is not None:
            return self.call == call
        assert self.at is not None
        return start <= self.at < end


@dataclass(frozen=True, slots=True)
class LLMReply:
    """What the fake LLM answers to ``input`` (``None``: to any input nothing else matches)."""

    input: str | None
    content: str = ""
    tool_calls: tuple[FakeToolCall, ...] = ()
    ttft: float = DEFAULT_LLM_TTFT
    duration: float = DEFAULT_LLM_DURATION
    #: ``(seconds after the call, text)`` of each piece, as a recorded reply came; empty: the
    #: content in even steps from ``ttft`` to ``duration``
    chunks: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TTSAudio:
    """How the fake TTS voices ``input``: ``audio_duration`` seconds of audio."""

    input: str
    audio_duration: float
    ttfb: float = DEFAULT_TTS_TTFB
    duration: float = DEFAULT_TTS_DURATION


class Script:
    """A scripted conversation: user speech, LLM replies and TTS audio, built by method calls.

    Methods return the script, so calls chain. Lookups are stateless: the same input always
    gets the first reply scripted for it (a cancelled preemptive call consumes nothing).
    """

    def __init__(self) -> None:
        self.speech: list[UserSpeech] = []
        self.llm_replies: list[LLMReply] = []
        self.tts_audios: list[TTSAudio] = []
        self.faults: list[ProviderFault] = []
        self._llm_by_input: dict[str | None, LLMReply] = {}
        #: the recorded session's turn options (``from_recording``): pass them to ``simulate``
        self.session_options: dict[str, Any] = {}
        self._tts_by_input: dict[str, TTSAudio] = {}

    @classmethod
    def from_recording(cls, path: str | Path) -> Script:
        """The script that replays a session recording (``AgentSession(record=...)``,
        ``--record``) in virtual time: what the real providers answered, when they did.

        - each VAD speech region becomes a user speech segment placed so that the fake VAD
          *delivers* its start and end when the live VAD did (``start = delivered -
          min_speech_duration``, ``end = delivered - min_silence_duration``, the recorded
          options);
        - the final transcripts heard in a region become its transcript, with ``stt_delay``
          from the region's end to the last final;
        - each LLM request that finished becomes a reply to its input (content, tool calls,
          time to first token, duration); each TTS request that finished becomes the audio of
          its text (ttfb, duration, seconds of audio). Cancelled requests (a dropped preemptive
          reply) count only when nothing finished for the same input;
        - each request that failed (an error, or a stall the session timed out) becomes a
          fault on the same call, after the chunks it delivered, at the instant it failed
          (:meth:`fault` with ``after=``): the replay fails, retries and reports as the live
          session did.

        Replay with ``simulate(script, agent=..., options=script.session_options)``.
        """
        return script_from_recording(path)

    def user_speech(
        self, *, start: float, end: float, transcript: str = "",
        stt_delay: float = DEFAULT_STT_DELAY, confidence: float = 1.0,
    ) -> Script:
        """The user speaks from ``start`` to ``end`` seconds; ``transcript=""`` is noise.
        ``confidence``: what the fake STT reports for the transcript (a misheard one: low)."""
        if not 0 <= start < end:
            raise ValueError(f"user speech needs 0 <= start < end, got {start}..{end}")
        if stt_delay < 0:
            raise ValueError("stt_delay must be >= 0")
        if not 0 <= confidence <= 1:
            raise ValueError("confidence must be within 0..1")
        self.speech.append(UserSpeech(start, end, transcript, stt_delay, confidence))
        self.speech.sort(key=lambda s: s.start)
        return self

    def llm_reply(
        self, *, input: str | None, content: str = "",
        tool_calls: Iterable[FakeToolCall] = (), ttft: float = DEFAULT_LLM_TTFT,
        duration: float = DEFAULT_LLM_DURATION,
        chunks: Iterable[tuple[float, str]] = (),
    ) -> Script:
        """The LLM answers ``input`` (the last user message, instructions or tool output).

        ``input=None`` scripts the reply to any input that has no reply of its own.
        ``chunks``: the content's pieces with their times after the call (a recorded reply's
        timing), instead of even steps.
        """
        _check_latency("ttft", ttft, duration)
        pieces = tuple((float(t), str(text)) for t, text in chunks)
        if pieces and "".join(text for _, text in pieces) != content:
            raise ValueError("the chunks must join into the content")
        if any(not 0 <= t <= duration for t, _ in pieces):
            raise ValueError("chunk times must lie within the duration")
        reply = LLMReply(input, content, tuple(tool_calls), ttft, duration, pieces)
        self.llm_replies.append(reply)
        self._llm_by_input.setdefault(None if input is None else normalize_text(input), reply)
        return self

    def tts_audio(
        self, *, input: str, audio_duration: float | None = None,
        ttfb: float = DEFAULT_TTS_TTFB, duration: float = DEFAULT_TTS_DURATION,
    ) -> Script:
        """The TTS voices ``input`` as ``audio_duration`` seconds of audio (default: by length)."""
        _check_latency("ttfb", ttfb, duration)
        key = normalize_text(input)
        if audio_duration is None:
            audio_duration = len(key) * SECONDS_PER_CHARACTER
        if audio_duration < 0:
            raise ValueError("audio_duration must be >= 0")
        audio = TTSAudio(input, audio_duration, ttfb, duration)
        self.tts_audios.append(audio)
        self._tts_by_input.setdefault(key, audio)
        return self

    def fault(
        self, provider: Literal["stt", "llm", "tts"], kind: FaultKind = "error", *,
        at: float | None = None, call: int | None = None, after_chunks: int = 0,
        delay: float = 1.0, error: ErrorKind = "connection", retryable: bool = True,
        after: float | None = None,
    ) -> Script:
        """Make a fake provider fail, at an instant or on a call.

        ``at=t``: every request of ``provider`` in flight at ``t`` fails at ``t`` (for
        ``"stt"``: the stream open at ``t`` raises; a stream opened later is healthy).
        ``call=n``: the ``n``-th request of that fake (1-based; a retry is a new request)
        fails after ``after_chunks`` chunks, when the next one was due, or ``after`` seconds
        after the call (a recorded failure's instant). Kinds: ``"error"``
        raises a typed error (``error``: ``"connection"``, ``"timeout"`` or ``"status"`` (a
        503), ``retryable`` as given); ``"stall"`` stops sending and never ends (until it is
        cancelled); ``"slow_first"`` delays every chunk by ``delay`` seconds (a slow first
        byte; ``call=`` only). STT supports ``"error"`` at an instant.
        """
        if (at is None) == (call is None):
            raise ValueError("give exactly one of at= and call=")
        if call is not None and call < 1:
            raise ValueError("call= counts from 1")
        if provider == "stt" and (kind != "error" or at is None):
            raise ValueError("an STT fault is an error at an instant (at=)")
        if kind == "slow_first" and call is None:
            raise ValueError("a slow first byte hits a call (call=)")
        if after_chunks < 0 or delay < 0 or (after is not None and after < 0):
            raise ValueError("after_chunks, delay and after must be >= 0")
        if after is not None and call is None:
            raise ValueError("after= times a fault from its call (call=)")
        self.faults.append(ProviderFault(provider, kind, at, call, after_chunks, delay, error,
                                         retryable, after))
        return self

    def fault_for(self, provider: str, call: int, start: float, end: float
                  ) -> ProviderFault | None:
        """The first fault that hits call ``call`` of ``provider`` (see :meth:`fault`)."""
        return next((f for f in self.faults
                     if f.provider == provider and f.strikes(call, start, end)), None)

    # -- lookups used by the fakes ---------------------------------------------------------------

    def find_llm_reply(self, inputs: Sequence[str]) -> LLMReply | None:
        """The reply to the first of ``inputs`` that has one, else the catch-all, else None."""
        for text in inputs:
            reply = self._llm_by_input.get(normalize_text(text))
            if reply is not None:
                return reply
        return self._llm_by_input.get(None)

    def find_tts_audio(self, text: str) -> TTSAudio | None:
        """The audio scripted for ``text``; for a part of a scripted text (one sentence of it),
        that text's audio cut in proportion to the part's length."""
        key = normalize_text(text)
        audio = self._tts_by_input.get(key)
        if audio is not None or not key:
            return audio
        for whole, audio in self._tts_by_input.items():
            if key in whole:
                share = len(key) / len(whole)
                return TTSAudio(text, audio.audio_duration * share, audio.ttfb,
                                audio.ttfb + (audio.duration - audio.ttfb) * share)
        return None

    @property
    def speech_end(self) -> float:
        """When the last scripted speech segment ends (0 with none)."""
        return max((s.end for s in self.speech), default=0.0)


def _check_latency(first: str, first_value: float, duration: float) -> None:
    if first_value < 0 or duration < first_value:
        raise ValueError(f"need 0 <= {first} <= duration, got {first}={first_value}, "
                         f"duration={duration}")


# -- replaying a recording ---------------------------------------------------------------------

_RECORDING_VERSION = 1  # flowagents.session.recording.FORMAT_VERSION (that layer is above this)


def read_recording(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and events of a session recording (the format of
    :mod:`flowagents.session.recording`, read here without importing the session layer)."""
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or lines[0].get("type") != "session":
        raise ValueError(f"{path} is not a flowagents session recording (no session header)")
    if lines[0].get("version") != _RECORDING_VERSION:
        raise ValueError(f"{path}: recording format {lines[0].get('version')} is not "
                         f"{_RECORDING_VERSION}")
    return lines[0], lines[1:]



def script_from_recording(path: str | Path) -> Script:
    """The script that replays the recording at ``path`` (see :meth:`Script.from_recording`)."""
    header, events = read_recording(path)
    options: dict[str, Any] = dict(header.get("options") or {})
    min_speech = float(options.get("min_speech_duration", 0.05))
    min_silence = float(options.get("min_silence_duration", 0.55))
    script = Script()
    script.session_options = options
    for start, end, text, final_at in _segments(events):
        seg_start = max(0.0, start - min_speech)
        seg_end = max(seg_start + 1e-3, end - min_silence)
        delay = max(0.0, final_at - seg_end) if final_at is not None else 0.0
        script.user_speech(start=seg_start, end=seg_end, transcript=text, stt_delay=delay)
    for e in _finished(events, "llm", "input"):
        ttft = 0.0 if e["first"] is None else e["first"] - e["start"]
        duration = max(ttft, e["t"] - e["start"])
        calls = [FakeToolCall(c["name"], c["arguments"]) for c in e.get("tool_calls", [])]
        script.llm_reply(input=e["input"], content=e["content"], tool_calls=calls,
                         ttft=ttft, duration=duration,
                         chunks=[(min(t, duration), text) for t, text in e.get("chunks", [])])
    for e in _finished(events, "tts", "text"):
        if e.get("error") and not e["audio"]:
            continue  # never voiced: the fake voices it by length, and the fault strikes first
        ttfb = 0.0 if e["first"] is None else e["first"] - e["start"]
        script.tts_audio(input=e["text"], audio_duration=e["audio"], ttfb=ttfb,
                         duration=max(ttfb, e["t"] - e["start"]))
    for kind in ("llm", "tts"):
        _failures(script, events, kind)
    return script


_ERRORS: dict[str, ErrorKind] = {"APITimeoutError": "timeout", "APIStatusError": "status"}
_FAKE_TTS_FRAME = 0.02  # FakeTTS's default frame: the chunks a recorded TTS request's audio makes


def _failures(script: Script, events: list[dict[str, Any]], kind: Literal["llm", "tts"]
              ) -> None:
    """A fault for each recorded request of ``kind`` that failed (an error, or a stall the
    session timed out), on the same call (requests counted in the order they were made), after
    the chunks it delivered, at the instant it failed: the replay fails as the live session
    did, and retries, falls back or reports as it did."""
    requests = sorted((e for e in events if e["type"] == kind), key=lambda e: e["start"])
    for number, e in enumerate(requests, 1):
        error = e.get("error")
        if not error:
            continue
        chunks = (len(e.get("chunks", ())) if kind == "llm"
                  else round(e["audio"] / _FAKE_TTS_FRAME))
        script.fault(kind, call=number, after_chunks=chunks, after=e["t"] - e["start"],
                     error=_ERRORS.get(error, "connection"),
                     retryable=bool(e.get("retryable", True)))


def recorded_agent_states(path: str | Path) -> list[tuple[float, str]]:
    """``(time, new_state)`` of each agent state change in the recording, starting with
    ``initializing`` at 0 (as :attr:`SimulationResult.agent_states` lists them)."""
    _, events = read_recording(path)
    return [(0.0, "initializing")] + [(e["t"], e["new"]) for e in events
                                      if e["type"] == "agent_state"]


def _segments(events: list[dict[str, Any]]
              ) -> list[tuple[float, float, str, float | None]]:
    """``(start delivered, end delivered, transcript, last final's time)`` per VAD region; the
    finals heard from a region's start to the next region's start belong to it."""
    regions: list[list[Any]] = []
    for e in events:
        if e["type"] == "vad" and e["event"] == "start_of_speech":
            regions.append([e["t"], None, [], None])
        elif e["type"] == "vad" and e["event"] == "end_of_speech" and regions:
            regions[-1][1] = e["t"]
        elif e["type"] == "transcript" and e["final"] and regions and e["text"].strip():
            regions[-1][2].append(e["text"].strip())
            regions[-1][3] = e["t"]
    last = max((e["t"] for e in events), default=0.0)
    return [(r[0], r[1] if r[1] is not None else last, " ".join(r[2]), r[3]) for r in regions]


def _finished(events: list[dict[str, Any]], kind: str, key: str) -> list[dict[str, Any]]:
    """The requests of ``kind`` that ended, plus cancelled ones whose input never finished."""
    requests = [e for e in events if e["type"] == kind]
    done = {json.dumps(e[key]) for e in requests if not e["cancelled"]}
    return [e for e in requests if not e["cancelled"] or json.dumps(e[key]) not in done]
