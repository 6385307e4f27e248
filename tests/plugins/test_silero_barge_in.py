"""A barge-in heard by Silero's stream while the agent speaks after a long silence: batching
idle windows and skipping silent ones must not make it later, whatever
``min_interruption_duration``.

The session runs on the virtual clock with the real voice graph and ``SileroVADStream``; only
the model is replaced, by one that calls a window speech when it is loud (the stream's batching
and silence level then decide which windows it is asked about and when). The microphone hears
digital silence but for 1.5 s of a loud tone from 8.0 s; the agent speaks from 0.5 s for 20 s
(it cannot pause, so a barge-in stops it at once). The user has been silent for 8 s: far past
``idle_after`` (3 s) and the silence level's three seconds of arming, so without the agent
speaking windows are scored ten at a time and the silent ones skipped when the user starts;
while it speaks, the VAD node alerts the stream and every window is scored at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from reactivex.subject import Subject

from flowagents.plugins.silero import SileroVADStream
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, RecordingAudioOutput, Script
from flowagents.testing.audio import VirtualAudioInput
from flowagents.types import AudioFrame
from flowagents.vad import VAD
from flowagents.voice import Agent, SessionIO
from flowagents.voice.signals import AgentActivity
from nodes.audio.vad import vad_events

RATE = 16000
TEXT = "A very long story."


class LoudIsSpeech:
    """Silero's interface: speech (0.95) when the window peaks above a tenth of full scale."""

    def __init__(self) -> None:
        self.scored = 0

    def process(self, window: Any) -> float:
        self.scored += 1
        return 0.95 if np.abs(np.ctypeslib.as_array(window)).max() > 0.1 else 0.02


class ScriptedSilero(VAD):
    def __init__(self, idle_batch: int, silence_level: int) -> None:
        super().__init__()
        self.idle_batch, self.silence_level = idle_batch, silence_level
        self.models: list[LoudIsSpeech] = []

    def stream(self) -> SileroVADStream:
        self.models.append(LoudIsSpeech())
        return SileroVADStream(self.models[-1], self.options, self.idle_batch, 3.0,
                               self.silence_level)


def barge_in(idle_batch: int, silence_level: int, *, speak: bool = True,
             **options: Any) -> tuple[list[float], list[float], int]:
    """(the output's clears, the user's speech starts as VAD events date them, windows scored)
    in the scenario of the module docstring (``speak=False``: the agent says nothing)."""
    background = np.zeros(12 * RATE, np.int16)
    t = np.arange(int(1.5 * RATE)) / RATE
    background[8 * RATE:int(9.5 * RATE)] = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    script = Script().tts_audio(input=TEXT, audio_duration=20.0)
    vad = ScriptedSilero(idle_batch, silence_level)

    async def main() -> tuple[list[float], list[float], int]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        output = RecordingAudioOutput(can_pause=False)
        session = AgentSession(vad=vad, stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script), user_away_timeout=None, **options)
        starts: list[float] = []
        mic = VirtualAudioInput(None, 0.02, RATE, start=t0, background=background)
        await session.start(Agent(instructions="x"),
                            io=SessionIO(audio_input=mic, audio_output=output))
        session.runtime.output("vad_events").subscribe(
            lambda e: starts.append(e.timestamp - t0) if e.type.name == "START_OF_SPEECH"
            else None)
        await asyncio.sleep(0.5)
        if speak:
            session.say(TEXT)
        await asyncio.sleep(11.0)
        await session.aclose()
        return [c - t0 for c in output.clears], starts, vad.models[0].scored

    return run_virtual(main())


WINDOWS = 11.5 * RATE // 512  # whole windows in the 11.5 s the session hears


@pytest.mark.parametrize("min_interruption_duration", [0.2, 0.5])
def test_while_the_agent_speaks_a_barge_in_is_decided_as_without_batching(
        min_interruption_duration: float) -> None:
    plain = barge_in(1, 0, min_interruption_duration=min_interruption_duration)
    default = barge_in(10, 8, min_interruption_duration=min_interruption_duration)
    # the tone starts on window 250 (8.0 s) and is decided on window 251 in both; the agent is
    # stopped min_interruption_duration after the dated start, on the job's timer. Batching
    # alone would decide the start up to 9 windows late: at 8.32 s here, past 8.2 s.
    assert plain[1] == default[1] == [pytest.approx(8.0)]
    assert plain[0] == default[0] == [pytest.approx(8.0 + min_interruption_duration)]
    assert plain[2] == default[2] == WINDOWS  # the agent was busy: every window was scored


def test_while_the_agent_is_silent_idle_windows_are_batched_and_skipped() -> None:
    plain = barge_in(1, 0, speak=False)
    default = barge_in(10, 8, speak=False)
    assert plain[1] == default[1] == [pytest.approx(8.0)]  # decided later, dated the same
    assert plain[0] == default[0] == []
    assert plain[2] == WINDOWS
    # skipped: the windows from 3.008 s (94 windows of silence scored first) to 8.0 s; after
    # the tone, the grace period and three more seconds of arming go past 11.5 s
    assert default[2] == WINDOWS - round((8.0 - 3.008) / 0.032)


def test_an_alerted_stream_scores_every_window_at_once_then_batches_again() -> None:
    model = LoudIsSpeech()
    stream = SileroVADStream(model, ScriptedSilero(10, 8).options, 10, 3.0, 8)
    silence = np.zeros(320, np.int16)

    def counts(frames: int, first: int) -> list[int]:
        return [len(stream.process(AudioFrame(silence, RATE, timestamp=(first + f) * 0.02)))
                for f in range(frames)]

    assert counts(16, 0) == [0] * 15 + [10]  # windows 0-9, whole at frame 15
    stream.alert(True)
    # 5120 samples in, 5120 scored; from now on each window as soon as it is whole (frames
    # 16-31 bring 5120 samples: windows 10-19, one at each frame that completes one)
    got = counts(16, 16)
    assert got == [1 if ((16 + f + 1) * 320) // 512 > ((16 + f) * 320) // 512 else 0
                   for f in range(16)]
    assert sum(got) == 10
    stream.alert(False)
    assert counts(16, 32) == [0] * 15 + [10]  # windows 20-29 again in one batch
    assert model.scored == 30


def test_the_vad_operator_alerts_its_stream_when_the_agent_becomes_busy_or_idle() -> None:
    calls: list[bool] = []

    class Recording(SileroVADStream):
        def alert(self, on: bool) -> None:
            calls.append(on)
            super().alert(on)

    class Provider(ScriptedSilero):
        def stream(self) -> SileroVADStream:
            return Recording(LoudIsSpeech(), self.options, 10, 3.0, 8)

    audio: Subject[AudioFrame] = Subject()
    activity: Subject[AgentActivity] = Subject()
    audio.pipe(vad_events(Provider(10, 8), activity=activity)).subscribe()
    for state, speech in [("listening", None), ("thinking", "s1"), ("speaking", "s1"),
                          ("listening", None), ("listening", None), ("speaking", "s2")]:
        activity.on_next(AgentActivity(state, 0.0, speech))  # type: ignore[arg-type]
    assert calls == [True, False, True]
