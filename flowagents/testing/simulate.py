"""simulate(): run the real session and voice graph on a script, in virtual time, and record it.

``await simulate(script, agent=...)`` builds an :class:`~flowagents.voice.AgentSession` on the
fake providers of :mod:`flowagents.testing.fakes`, a silent virtual microphone and a recording
speaker (``pausable_output`` says whether it can pause) and the given ``text_input`` /
``video_input`` (user text, a camera), runs ``actions`` (``{time: fn(session)}``)
at their times, and returns a :class:`SimulationResult`: every event with the time it was
emitted, the agent's and user's state changes (dated as the events date them), the chat history,
what was played (one :class:`Playback` per played step of a speech), the transcriptions sent
to the text output (with their times), the metrics and the session's recording
(``record=True`` keeps it in memory, a path writes it as ``AgentSession(record=...)`` does;
``result.plot()`` draws it as a timeline). ``vad_inference_interval``: the fake VAD also
reports INFERENCE_DONE events at that interval (what a batch STT's speculative recognition
listens to; give ``stt=FakeSTT(script, streaming=False)`` in ``options``). It must run
on a virtual-time loop (:func:`flowagents.runtime.run_virtual`), where a minute of conversation
takes milliseconds and every time is exact.

Without ``duration`` the simulation ends once the script and the actions are over and the agent
has nothing left to say (every speech played out and no turn pending).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowagents.llm import ChatContext
from flowagents.metrics import AgentMetrics
from flowagents.runtime.virtual_time import VirtualTimeEventLoop
from flowagents.session import AgentSession
from flowagents.session.recording import SessionRecorder, read_recording
from flowagents.vad import VADOptions
from flowagents.voice import (
    Agent,
    SessionIO,
    TextInput,
    TextOutput,
    TranscriptionSegment,
    VideoInput,
)
from flowagents.voice.events import (
    AgentEvent,
    AgentStateChangedEvent,
    MetricsCollectedEvent,
    UserStateChangedEvent,
)
from flowagents.voice.options import SessionOptions
from flowagents.voice.signals import PlaybackEvent

from .audio import RecordingAudioOutput, VirtualAudioInput
from .fakes import FakeLLM, FakeSTT, FakeTTS, FakeVAD, sleep_until
from .script import Script

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Playback", "SimulationResult", "TimedEvent", "simulate"]

_SETTLE = 4.0  # covers VAD silence (0.55 s) + max endpointing delay (3.0 s) after the last speech


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """An event and the loop time it was emitted at (``event.created_at`` may be dated back)."""

    time: float
    event: AgentEvent

    @property
    def type(self) -> str:
        return self.event.type


@dataclass(frozen=True, slots=True)
class Playback:
    """One played step of a speech: when it started and ended, how much audio was heard
    (``position``, seconds), whether it was interrupted, and the text heard."""

    speech_id: str
    start: float
    end: float
    position: float
    interrupted: bool
    text: str


class _TextRecorder(TextOutput):
    def __init__(self, into: list[tuple[float, TranscriptionSegment]]) -> None:
        self.into = into

    def capture(self, segment: TranscriptionSegment) -> None:
        self.into.append((asyncio.get_running_loop().time(), segment))


@dataclass
class SimulationResult:
    session: AgentSession
    events: list[TimedEvent] = field(default_factory=list)
    playbacks: list[Playback] = field(default_factory=list)
    transcriptions: list[tuple[float, TranscriptionSegment]] = field(default_factory=list)
    output: RecordingAudioOutput | None = None
    vad: FakeVAD | None = None
    stt: FakeSTT | None = None
    llm: FakeLLM | None = None
    tts: FakeTTS | None = None
    recording: SessionRecorder | None = None

    @property
    def history(self) -> ChatContext:
        return self.session.history

    @property
    def agent_states(self) -> list[tuple[float, str]]:
        """``(created_at, new_state)`` of each agent state change, starting with initializing."""
        return [(0.0, "initializing")] + [
            (e.event.created_at, e.event.new_state) for e in self.events
            if isinstance(e.event, AgentStateChangedEvent)]

    @property
    def user_states(self) -> list[tuple[float, str]]:
        """``(created_at, new_state)`` of each user state change (dated by the VAD)."""
        return [(e.event.created_at, e.event.new_state) for e in self.events
                if isinstance(e.event, UserStateChangedEvent)]

    @property
    def metrics(self) -> list[AgentMetrics]:
        return [e.event.metrics for e in self.events if isinstance(e.event, MetricsCollectedEvent)]

    def of_type(self, name: str) -> list[TimedEvent]:
        return [e for e in self.events if e.type == name]

    def recorded_events(self) -> list[dict[str, Any]]:
        """The session's recording (as ``record=`` writes it, without the header); read from
        the file when ``simulate`` recorded to one."""
        if self.recording is None:
            raise ValueError("simulate(record=False) kept no recording")
        if self.recording.path is not None:
            return read_recording(self.recording.path)[1]
        return list(self.recording.records)

    def plot(self, ax: Axes | None = None, title: str = "") -> Figure:
        """The conversation as a timeline (one lane per stage, each turn's latency annotated;
        needs matplotlib)."""
        from flowagents.session.timeline import draw_timeline

        return draw_timeline(self.recorded_events(), ax=ax, title=title)

    def messages(self) -> list[tuple[str, str, bool]]:
        """``(role, text, interrupted)`` of each message in the history."""
        return [(i.role, i.text_content or "", i.interrupted) for i in self.history.items
                if i.type == "message"]


def _vad_options(options: SessionOptions) -> VADOptions:
    """The VAD options a session's options ask for (the gate's ``pre_roll`` is the VAD's
    ``prefix_padding``)."""
    return VADOptions(min_speech_duration=options.min_speech_duration,
                      min_silence_duration=options.min_silence_duration,
                      prefix_padding=options.pre_roll,
                      activation_threshold=options.activation_threshold)


async def simulate(
    script: Script,
    *,
    agent: Agent,
    options: Mapping[str, Any] | None = None,
    pausable_output: bool = True,
    actions: Mapping[float, Callable[[AgentSession], Any]] | None = None,
    duration: float | None = None,
    frame_duration: float = 0.01,
    text_input: TextInput | None = None,
    video_input: VideoInput | None = None,
    record: bool | str | Path = True,
    vad_inference_interval: float | None = None,
) -> SimulationResult:
    """Run ``agent`` through ``script`` on a virtual clock (see the module docstring)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeEventLoop):
        raise RuntimeError("simulate() runs on a virtual-time loop: use "
                           "flowagents.runtime.run_virtual(simulate(...))")
    t0 = loop.time()
    stt, llm, tts = FakeSTT(script), FakeLLM(script), FakeTTS(script)
    output = RecordingAudioOutput(can_pause=pausable_output)
    # options may replace a fake by a real provider (an LLM against a local server)
    recorder = (None if record is False
                else SessionRecorder(None if record is True else record))
    session = AgentSession(**{"stt": stt, "llm": llm, "tts": tts, "record": recorder,
                              **dict(options or {})})
    # the VAD hears with the session's options (min_speech/min_silence_duration, ...), as a real
    # VAD built from them would
    session.vad = vad = FakeVAD(script, _vad_options(session.options),
                                inference_interval=vad_inference_interval)
    result = SimulationResult(session, output=output, vad=vad, stt=stt, llm=llm, tts=tts,
                              recording=recorder)
    session.events.subscribe(lambda ev: result.events.append(TimedEvent(loop.time(), ev)))

    def on_playback(event: PlaybackEvent) -> None:
        step = event.step
        if event.kind == "step_done" and step is not None and step.started_at is not None:
            result.playbacks.append(Playback(event.speech.id, step.started_at, step.ended_at,
                                             step.position, step.interrupted, step.text))

    await session.start(agent, io=SessionIO(audio_input=VirtualAudioInput(
        None, frame_duration, start=t0), audio_output=output,
        text_output=_TextRecorder(result.transcriptions), text_input=text_input,
        video_input=video_input))
    session.runtime.output("playback").subscribe(on_playback)

    pending: list[asyncio.Task[Any]] = []
    for when, action in sorted((actions or {}).items()):
        await sleep_until(t0 + when)
        outcome = action(session)
        if inspect.isawaitable(outcome):
            pending.append(asyncio.ensure_future(outcome))
    try:
        if duration is not None:
            await sleep_until(t0 + duration)
        else:
            last = max([script.speech_end, *(actions or {}).keys()], default=0.0)
            await sleep_until(t0 + last + _SETTLE)
            while session.current_speech is not None or session.agent_state != "listening":
                await session.drain()
                await asyncio.sleep(_SETTLE)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await session.aclose()
    return result
