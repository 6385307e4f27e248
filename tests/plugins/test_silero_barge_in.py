"""A barge-in heard by Silero's stream while the agent speaks after a long silence: batching
idle windows and skipping silent ones must not make it later.

The session runs on the virtual clock with the real voice graph and ``SileroVADStream``; only
the model is replaced, by one that calls a window speech when it is loud (the stream's batching
and silence level then decide which windows it is asked about and when). The microphone hears
digital silence but for 1.5 s of a loud tone from 8.0 s; the agent speaks from 0.5 s for 20 s
(it cannot pause, so a barge-in stops it at once). The user has been silent for 8 s: far past
``idle_after`` (3 s) and the silence level's three seconds of arming, so windows are scored ten
at a time and the silent ones are skipped when the user starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from flowagents.plugins.silero import SileroVADStream
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, RecordingAudioOutput, Script
from flowagents.testing.audio import VirtualAudioInput
from flowagents.vad import VAD
from flowagents.voice import Agent, SessionIO

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


def barge_in(idle_batch: int, silence_level: int) -> tuple[list[float], list[float], int]:
    """(the output's clears, the user's speech starts as VAD events date them, windows scored)
    in the scenario of the module docstring."""
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
                               tts=FakeTTS(script), user_away_timeout=None)
        starts: list[float] = []
        mic = VirtualAudioInput(None, 0.02, RATE, start=t0, background=background)
        await session.start(Agent(instructions="x"),
                            io=SessionIO(audio_input=mic, audio_output=output))
        session.runtime.output("vad_events").subscribe(
            lambda e: starts.append(e.timestamp - t0) if e.type.name == "START_OF_SPEECH"
            else None)
        await asyncio.sleep(0.5)
        session.say(TEXT)
        await asyncio.sleep(11.0)
        await session.aclose()
        return [c - t0 for c in output.clears], starts, vad.models[0].scored

    return run_virtual(main())


def test_a_barge_in_after_a_long_silence_is_as_early_with_batching_and_the_silence_level() -> None:
    plain = barge_in(idle_batch=1, silence_level=0)
    default = barge_in(idle_batch=10, silence_level=8)
    # the tone starts on window 250 (8.0 s) and is decided on window 251 in both; the agent is
    # stopped 0.5 s (min_interruption_duration) after the dated start, on the job's timer
    assert plain[1] == default[1] == [pytest.approx(8.0)]
    assert plain[0] == default[0] == [pytest.approx(8.5)]
    # the silence level did skip windows: of the 11.5 s (359 windows), the 3 s before
    # 8.0 s that followed three seconds of arming, and the silence after the grace
    assert plain[2] == 11.5 * RATE // 512
    assert default[2] < plain[2] - 100
