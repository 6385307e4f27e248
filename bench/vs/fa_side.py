"""flowagents' side of ``bench/vs_livekit.py``: runs in flowagents' venv.

The testing kit's fakes (FakeVAD, FakeSTT, FakeLLM) play the same scripts as LiveKit's side, with
the end-of-speech and final-transcript deliveries timed as they happen; a TTS hands over one
ready 20 ms frame per 20 ms of scripted audio at once (LiveKit's side has the same); the audio
input pushes 20 ms frames at 24 kHz on absolute deadlines (silent, or for the idle measure the
samples of a ``--background`` file, looped). The scenario runs in the testing kit's harness,
``simulate``, on a virtual clock.

    python fa_side.py turns|idle|imports|rss|capacity|scenario [options]   (prints RESULT {json})
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))  # the repository: flowagents, nodes, graphs
import common  # noqa: E402
from common import FRAME, SAMPLE_RATE, SILENCE, Turn  # noqa: E402


def _import_flowagents() -> float:
    t = time.perf_counter()
    from flowagents.session import AgentSession  # noqa: F401
    from flowagents.voice import Agent  # noqa: F401
    from graphs.voice import voice_graph  # noqa: F401
    return time.perf_counter() - t


if __name__ == "__main__" and sys.argv[1:2] == ["imports"]:
    base = common.rss_mb()
    secs = _import_flowagents()
    common.answer({"import_s": secs, "rss_mb": common.rss_mb(), "rss_before_mb": base})
    sys.exit(0)

# after the ``imports`` measure's exit: its base RSS and its timed imports must not move
import numpy as np  # noqa: E402

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions  # noqa: E402
from flowagents.runtime import run_virtual  # noqa: E402
from flowagents.session import AgentSession  # noqa: E402
from flowagents.testing import (  # noqa: E402
    FakeLLM,
    FakeSTT,
    FakeVAD,
    RecordingAudioOutput,
    Script,
    VirtualAudioInput,
    simulate,
)
from flowagents.testing.fakes import FakeSpeechStream, FakeVADStream  # noqa: E402
from flowagents.tts import TTS, TTSCapabilities  # noqa: E402
from flowagents.types import (  # noqa: E402
    AudioFrame,
    SpeechEvent,
    SynthesizedAudio,
    VADEvent,
    VADEventType,
)
from flowagents.vad import VAD, VADOptions  # noqa: E402
from flowagents.voice import Agent  # noqa: E402
from flowagents.voice.io import SessionIO  # noqa: E402


def _script(turns: list[Turn], t0: float) -> Script:
    script = Script()
    for t in turns:
        script.user_speech(start=t0 + t.start, end=t0 + t.end, transcript=t.text,
                           stt_delay=t.stt_delay)
        script.llm_reply(input=t.text, content=t.reply, ttft=t.ttft, duration=t.llm_duration)
        script.tts_audio(input=t.reply, audio_duration=t.audio, ttfb=t.ttfb,
                         duration=max(t.ttfb, 0.0))
    return script


class _TimedVADStream(FakeVADStream):
    def __init__(self, vad: _TimedVAD) -> None:
        super().__init__(vad)
        self._ends = vad.ends

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        events = super().process(frame)
        if events:
            now = asyncio.get_running_loop().time()
            self._ends.extend(now for e in events if e.type is VADEventType.END_OF_SPEECH)
        return events


class _TimedVAD(FakeVAD):
    def __init__(self, script: Script, options: VADOptions) -> None:
        super().__init__(script, options)
        self.ends: list[float] = []

    def stream(self) -> FakeVADStream:
        return _TimedVADStream(self)


class _TimedSpeechStream(FakeSpeechStream):
    def __init__(self, stt: _TimedSTT, language: str) -> None:
        super().__init__(stt, language)
        self._finals = stt.finals

    def _emit(self, event: SpeechEvent) -> None:
        if event.is_final:
            self._finals.append(asyncio.get_running_loop().time())
        super()._emit(event)


class _TimedSTT(FakeSTT):
    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.finals: list[float] = []

    def stream(self, **_: Any) -> FakeSpeechStream:
        return _TimedSpeechStream(self, "en")


class _ReadyTTS(TTS):
    """Ready 20 ms frames at once: as many as the scripted audio lasts (one when unscripted)."""

    def __init__(self, turns: list[Turn]) -> None:
        super().__init__(TTSCapabilities(streaming=False), SAMPLE_RATE)
        self._frames = {t.reply: max(1, round(t.audio / FRAME)) for t in turns}
        self._chunk = SynthesizedAudio(AudioFrame.silence(FRAME, SAMPLE_RATE), is_final=False)
        self._last = SynthesizedAudio(AudioFrame.silence(FRAME, SAMPLE_RATE), is_final=True)

    def synthesize(self, text: str, *,
                   conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
                   ) -> AsyncIterator[SynthesizedAudio]:
        return self._ready(self._frames.get(" ".join(text.split()), 1))

    async def _ready(self, n: int) -> AsyncIterator[SynthesizedAudio]:
        for _ in range(n - 1):
            yield self._chunk
        yield self._last


def _session(turns: list[Turn], t0: float, *, vad: VAD | None = None) -> AgentSession:
    script = _script(turns, t0)
    opts = VADOptions(min_speech_duration=0.05, min_silence_duration=SILENCE)
    return AgentSession(
        vad=vad if vad is not None else _TimedVAD(script, opts), stt=_TimedSTT(script),
        llm=FakeLLM(script), tts=_ReadyTTS(turns), min_endpointing_delay=0.0,
        max_endpointing_delay=0.0, min_silence_duration=SILENCE, preemptive_generation=True,
        user_away_timeout=None)


async def _start(session: AgentSession, start: float, background: Background = None
                 ) -> tuple[VirtualAudioInput, RecordingAudioOutput]:
    mic = _input(start, background)
    out = RecordingAudioOutput()
    await session.start(agent=Agent(instructions="bench"),
                        io=SessionIO(audio_input=mic, audio_output=out))
    return mic, out


async def turns(n: int) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 1.0
    script = common.turn_script(n)
    session = _session(script, t0)
    assert isinstance(session.vad, _TimedVAD)
    assert isinstance(session.stt, _TimedSTT)
    v, s = session.vad, session.stt
    _mic, out = await _start(session, t0)
    await asyncio.sleep(t0 + common.LEAD + n * common.PERIOD + 0.5 - loop.time())
    await session.aclose()
    ends: dict[int, float] = {}
    for t in v.ends + s.finals:
        k = common.turn_of(t, t0)
        ends[k] = max(t, ends.get(k, t))
    firsts: dict[int, float] = {}
    for c in out.frames:
        firsts.setdefault(common.turn_of(c.time, t0), c.time)
    return {"latencies": [firsts[i] - ends[i] for i in range(n) if i in ends and i in firsts],
            "turns": n}


Background = np.ndarray[Any, np.dtype[np.int16]] | None


def _input(start: float, background: Background) -> VirtualAudioInput:
    """The session's microphone: 20 ms frames at 24 kHz on absolute deadlines from ``start``,
    of ``background`` (looped) or digital silence."""
    return VirtualAudioInput(None, frame_duration=FRAME, sample_rate=SAMPLE_RATE, start=start,
                             background=background)


async def _played(background: Background, n: int) -> str:
    """The digest of the first ``n`` frames an input like the sessions' hands over (a throwaway
    one, its deadlines already past so that it pushes them at once)."""
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()

    def frame(f: AudioFrame) -> None:
        got.append(f.data.tobytes())
        if len(got) == n and not done.done():
            done.set_result(None)

    mic = _input(loop.time() - (n + 1) * FRAME, background)
    stop = mic.push_to(frame, lambda error: None)
    await done
    stop()
    await mic.aclose()
    return common.digest(got)


def _silero() -> VAD:
    from flowagents.plugins.silero import SileroVAD

    return SileroVAD()


async def idle(sessions: int, seconds: float, vad_kind: str, baseline: bool,
               background_path: str | None) -> dict[str, object]:
    """Idle sessions on one loop, their inputs' frames on the same deadlines (one wake serves
    them all), hearing the background file's samples (digital silence without one); the CPU
    the process uses per session."""
    background: Background = None
    if background_path is not None:
        background = np.frombuffer(common.read_background(background_path), dtype=np.int16)
    frames = 50 if background is None else len(background) // common.FRAME_SAMPLES
    played = await _played(background, frames)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5 + 0.1 * sessions
    running: list[AgentSession] = []
    mics: list[VirtualAudioInput] = []
    stops = []
    for _ in range(sessions):
        if baseline:
            mic = _input(t0, background)
            mics.append(mic)
            stops.append(mic.push_to(lambda frame: None, lambda error: None))
        else:
            # one model per session: each stream owns its model state, as LiveKit's does
            session = _session([], t0, vad=_silero() if vad_kind == "silero" else None)
            await _start(session, t0, background)
            running.append(session)
    await asyncio.sleep(t0 + common.IDLE_SETTLE - loop.time())
    cpu = await common.cpu_while(seconds)
    for stop in stops:
        stop()
    for mic in mics:
        await mic.aclose()
    for session in running:
        await session.aclose()
    return {"cpu_per_session": cpu / sessions, "played": played, "frames": frames}


async def rss(sessions: int) -> dict[str, object]:
    import gc

    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2
    running = [_session([], t0)]
    await _start(running[0], t0)
    await asyncio.sleep(0.5)
    gc.collect()
    one = common.rss_mb()
    for _ in range(sessions):
        running.append(_session([], t0))
        await _start(running[-1], t0)
    await asyncio.sleep(0.5)
    gc.collect()
    many = common.rss_mb()
    for session in running:
        await session.aclose()
    return {"per_session_mb": (many - one) / sessions}


async def capacity(start: int, limit: int, seconds: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    running: list[AgentSession] = []

    async def add(n: int) -> None:
        t0 = loop.time() + 0.1
        for _ in range(n):
            running.append(_session([], t0))
            await _start(running[-1], t0)

    result = await common.capacity(add, start=start, limit=limit, seconds=seconds)
    for session in running:
        await session.aclose()
    return result


def scenario() -> dict[str, object]:
    """The scripted conversation in the testing kit's harness (virtual time), with the default
    endpointing delay (0.5 s, as LiveKit's side); wall seconds for the whole run."""
    turns_ = common.scenario_script()
    wall = time.perf_counter()
    result = run_virtual(simulate(_script(turns_, 0.0), agent=Agent(instructions="bench"),
                                  options={"min_silence_duration": SILENCE,
                                           "preemptive_generation": True,
                                           "user_away_timeout": None},
                                  frame_duration=FRAME))
    wall = time.perf_counter() - wall
    replies = sum(1 for role, _, _ in result.messages() if role == "assistant")
    return {"wall_s": wall, "replies": replies}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("measure")
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--vad", default="fake")
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--background", default=None,
                    help="idle: a file of int16 samples the inputs play (else digital silence)")
    ap.add_argument("--start", type=int, default=10)
    ap.add_argument("--limit", type=int, default=2000)
    a = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    if a.measure == "scenario":
        common.answer(scenario())
        return
    jobs = {
        "turns": lambda: turns(a.turns),
        "idle": lambda: idle(a.sessions, a.seconds, a.vad, a.baseline, a.background),
        "rss": lambda: rss(a.sessions),
        "capacity": lambda: capacity(a.start, a.limit, a.seconds),
    }
    common.answer(asyncio.run(jobs[a.measure]()))


if __name__ == "__main__":
    main()
