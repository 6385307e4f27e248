"""LiveKit Agents' side of ``bench/vs_livekit.py``: runs in LiveKit's own venv.

Zero-latency fakes written for LiveKit's provider interfaces, equivalent to flowagents' testing
kit fakes: a VAD that delivers the script's starts and ends as the frames reach their times (no
INFERENCE_DONE events outside speech, as the flowagents fake), a streaming STT whose finals come
on loop timers, an LLM that answers the last user message at once, a TTS that hands over one ready
frame (one per 20 ms of scripted audio), an audio input pushing 20 ms frames at 24 kHz on
absolute deadlines (silent, or for the idle measure the samples of a ``--background`` file,
looped, cut into frames as flowagents' input cuts them), and an output that records when each
frame arrives and reports playout after the audio's duration (what a room's audio source does).

    python lk_side.py turns|idle|imports|rss|capacity|scenario [options]   (prints RESULT {json})
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

T_IMPORT = time.perf_counter()
RSS_BASE_PROBE = None

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import FRAME, FRAME_SAMPLES, SAMPLE_RATE, SILENCE, Turn  # noqa: E402


def _import_livekit() -> float:
    t = time.perf_counter()
    from livekit.agents import Agent, AgentSession  # noqa: F401
    return time.perf_counter() - t


if __name__ == "__main__" and sys.argv[1:2] == ["imports"]:
    base = common.rss_mb()
    secs = _import_livekit()
    common.answer({"import_s": secs, "rss_mb": common.rss_mb(), "rss_before_mb": base})
    sys.exit(0)

from livekit import rtc  # noqa: E402
from livekit.agents import Agent, AgentSession, llm, stt, tts, utils, vad  # noqa: E402
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions  # noqa: E402
from livekit.agents.voice.io import (  # noqa: E402
    AudioInput,
    AudioOutput,
    AudioOutputCapabilities,
)

_SILENT = b"\x00\x00" * FRAME_SAMPLES


def _frame() -> rtc.AudioFrame:
    return rtc.AudioFrame(_SILENT, SAMPLE_RATE, 1, FRAME_SAMPLES)


# -- fakes ---------------------------------------------------------------------------------------


class ScriptVAD(vad.VAD):
    def __init__(self, turns: list[Turn], t0: float, min_silence: float = SILENCE,
                 min_speech: float = 0.05) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=FRAME))
        self.schedule: list[tuple[float, vad.VADEventType, Turn]] = []
        for t in turns:
            self.schedule.append((t0 + t.start + min_speech, vad.VADEventType.START_OF_SPEECH, t))
            self.schedule.append((t0 + t.end + min_silence, vad.VADEventType.END_OF_SPEECH, t))
        self.t0 = t0
        self.ends: list[float] = []

    def stream(self) -> vad.VADStream:
        return ScriptVADStream(self)


class ScriptVADStream(vad.VADStream):
    async def _main_task(self) -> None:
        v = self._vad
        assert isinstance(v, ScriptVAD)
        loop = asyncio.get_running_loop()
        i, schedule = 0, v.schedule
        speaking: Turn | None = None
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                continue
            now = loop.time()
            while i < len(schedule) and schedule[i][0] <= now + 1e-6:
                _, kind, turn = schedule[i]
                i += 1
                speaking = turn if kind is vad.VADEventType.START_OF_SPEECH else None
                if kind is vad.VADEventType.END_OF_SPEECH:
                    v.ends.append(now)
                self._send(kind, turn, now, speaking=speaking is not None)
            if speaking is not None:  # inference events while speaking (interruptions use them)
                self._send(vad.VADEventType.INFERENCE_DONE, speaking, now, speaking=True)

    def _send(self, kind: vad.VADEventType, turn: Turn, now: float, *, speaking: bool) -> None:
        v = self._vad
        assert isinstance(v, ScriptVAD)
        start = v.t0 + turn.start
        self._event_ch.send_nowait(vad.VADEvent(
            type=kind, samples_index=0, timestamp=now,
            speech_duration=max(0.0, min(now, v.t0 + turn.end) - start),
            silence_duration=max(0.0, now - (v.t0 + turn.end)), speaking=speaking,
            probability=1.0 if speaking else 0.0))


class ScriptSTT(stt.STT):
    def __init__(self, turns: list[Turn], t0: float) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))
        self.turns, self.t0 = turns, t0
        self.finals: list[float] = []

    async def _recognize_impl(self, buffer: object, *, language: object = None,
                              conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
                              ) -> stt.SpeechEvent:
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                               alternatives=[stt.SpeechData(language="en", text="")])

    def stream(self, *, language: object = None,
               conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
               ) -> stt.RecognizeStream:
        return ScriptSpeechStream(stt=self, conn_options=conn_options)


class ScriptSpeechStream(stt.RecognizeStream):
    async def _run(self) -> None:
        s = self._stt
        assert isinstance(s, ScriptSTT)
        loop = asyncio.get_running_loop()
        now = loop.time()
        timers = []
        for t in s.turns:
            at = s.t0 + t.end + t.stt_delay
            if at < now:
                continue
            words = t.text.split()
            interim = " ".join(words[: (len(words) + 1) // 2])
            timers.append(loop.call_at(s.t0 + t.end + t.stt_delay / 2, self._emit, interim, False))
            timers.append(loop.call_at(at, self._emit, t.text, True))
        try:
            async for _ in self._input_ch:
                pass
        finally:
            for timer in timers:
                timer.cancel()

    def _emit(self, text: str, final: bool) -> None:
        s = self._stt
        assert isinstance(s, ScriptSTT)
        if final:
            s.finals.append(asyncio.get_running_loop().time())
        kind = (stt.SpeechEventType.FINAL_TRANSCRIPT if final
                else stt.SpeechEventType.INTERIM_TRANSCRIPT)
        self._event_ch.send_nowait(stt.SpeechEvent(
            type=kind, alternatives=[stt.SpeechData(language="en", text=text, confidence=1.0)]))


class ScriptLLM(llm.LLM):
    def __init__(self, turns: list[Turn]) -> None:
        super().__init__()
        self.replies = {t.text: t for t in turns}

    def chat(self, *, chat_ctx: llm.ChatContext, tools: object = None,
             conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
             **_: object) -> llm.LLMStream:
        return ScriptLLMStream(self, chat_ctx=chat_ctx, tools=[], conn_options=conn_options)


class ScriptLLMStream(llm.LLMStream):
    async def _run(self) -> None:
        owner = self._llm
        assert isinstance(owner, ScriptLLM)
        last = self.chat_ctx.items[-1] if self.chat_ctx.items else None
        text = last.text_content if last is not None and last.type == "message" else None
        turn = owner.replies.get(text or "")
        if turn is None:
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        if turn.ttft:
            await asyncio.sleep(turn.ttft)
        self._event_ch.send_nowait(llm.ChatChunk(
            id="fake", delta=llm.ChoiceDelta(role="assistant", content=turn.reply)))
        rest = start + turn.llm_duration - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)


class ScriptTTS(tts.TTS):
    def __init__(self, turns: list[Turn]) -> None:
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False),
                         sample_rate=SAMPLE_RATE, num_channels=1)
        self.audio = {t.reply: t for t in turns}

    def synthesize(self, text: str, *,
                   conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
                   ) -> tts.ChunkedStream:
        return ScriptChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class ScriptChunkedStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        owner = self._tts
        assert isinstance(owner, ScriptTTS)
        turn = owner.audio.get(" ".join(self.input_text.split()))
        output_emitter.initialize(request_id=utils.shortuuid("tts_"), sample_rate=SAMPLE_RATE,
                                  num_channels=1, mime_type="audio/pcm")
        audio, ttfb = (turn.audio, turn.ttfb) if turn is not None else (FRAME, 0.0)
        if ttfb:
            await asyncio.sleep(ttfb)
        for _ in range(max(1, round(audio / FRAME))):
            output_emitter.push_frame(_frame())
        output_emitter.flush()


def _frames(background: bytes | None) -> list[rtc.AudioFrame]:
    """An input's frames, played in turn and again from the first: the background's samples cut
    into 20 ms frames (as flowagents' ``VirtualAudioInput`` cuts them), or one silent frame."""
    if background is None:
        return [_frame()]
    step = 2 * FRAME_SAMPLES
    return [rtc.AudioFrame(background[i:i + step], SAMPLE_RATE, 1, FRAME_SAMPLES)
            for i in range(0, len(background), step)]


class PacedInput(AudioInput):
    """20 ms frames at 24 kHz (silent, or ``frames`` in turn), each handed over at its end time
    (one timer per frame)."""

    def __init__(self, start: float, frames: list[rtc.AudioFrame] | None = None) -> None:
        super().__init__(label="bench")
        self.queue: asyncio.Queue[rtc.AudioFrame] = asyncio.Queue()
        self.start, self.k = start, 0
        self.frames = frames or [_frame()]
        self.timer: asyncio.TimerHandle | None = None
        self.timer = asyncio.get_running_loop().call_at(start + FRAME, self._tick)

    def _tick(self) -> None:
        self.queue.put_nowait(self.frames[self.k % len(self.frames)])
        self.k += 1
        self.timer = asyncio.get_running_loop().call_at(self.start + (self.k + 1) * FRAME,
                                                        self._tick)

    async def __anext__(self) -> rtc.AudioFrame:
        return await self.queue.get()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


class TimedOutput(AudioOutput):
    """Records each frame's arrival time; reports playout when the audio would have played."""

    def __init__(self) -> None:
        super().__init__(label="bench", capabilities=AudioOutputCapabilities(pause=False))
        self.times: list[float] = []
        self._start = 0.0
        self._pushed = 0.0
        self._handle: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        now = asyncio.get_running_loop().time()
        self.times.append(now)
        if not self._pushed:
            self._start = now
            self.on_playback_started(created_at=time.time())
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if not self._pushed:
            return
        loop = asyncio.get_running_loop()
        if self._handle:
            self._handle.cancel()
        self._handle = loop.call_at(self._start + self._pushed, self._finished)

    def _finished(self) -> None:
        pushed, self._pushed, self._handle = self._pushed, 0.0, None
        self.on_playback_finished(playback_position=pushed, interrupted=False)

    def clear_buffer(self) -> None:
        if not self._pushed:
            return
        if self._handle:
            self._handle.cancel()
            self._handle = None
        played = min(self._pushed, asyncio.get_running_loop().time() - self._start)
        self._pushed = 0.0
        self.on_playback_finished(playback_position=played, interrupted=True)


# -- sessions ------------------------------------------------------------------------------------


def _session(turns: list[Turn], t0: float, *, vad_: vad.VAD | None = None,
             endpointing: float = 0.0) -> AgentSession:
    return AgentSession(
        vad=vad_ if vad_ is not None else ScriptVAD(turns, t0), stt=ScriptSTT(turns, t0),
        llm=ScriptLLM(turns), tts=ScriptTTS(turns), user_away_timeout=None,
        turn_handling={"turn_detection": "vad",
                       "endpointing": {"min_delay": endpointing, "max_delay": max(endpointing,
                                                                                   3.0)},
                       "preemptive_generation": {"enabled": True}})


async def _start(session: AgentSession, start: float,
                 frames: list[rtc.AudioFrame] | None = None) -> tuple[PacedInput, TimedOutput]:
    mic, out = PacedInput(start, frames), TimedOutput()
    session.input.audio = mic
    session.output.audio = out
    session.output.transcription = None
    await session.start(Agent(instructions="bench"))
    return mic, out


async def _close(session: AgentSession, mic: PacedInput) -> None:
    mic.stop()
    await session.aclose()


async def turns(n: int) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 1.0
    script = common.turn_script(n)
    session = _session(script, t0)
    assert isinstance(session.vad, ScriptVAD)
    assert isinstance(session.stt, ScriptSTT)
    v, s = session.vad, session.stt
    mic, out = await _start(session, t0)
    await asyncio.sleep(t0 + common.LEAD + n * common.PERIOD + 0.5 - loop.time())
    await _close(session, mic)
    ends: dict[int, float] = {}
    for t in v.ends + s.finals:
        k = common.turn_of(t, t0)
        ends[k] = max(t, ends.get(k, t))
    firsts: dict[int, float] = {}
    for t in out.times:
        firsts.setdefault(common.turn_of(t, t0), t)
    return {"latencies": [firsts[i] - ends[i] for i in range(n) if i in ends and i in firsts],
            "turns": n}


def _silero() -> vad.VAD:
    from livekit.plugins import silero

    return silero.VAD.load()


async def _played(frames: list[rtc.AudioFrame], n: int) -> str:
    """The digest of the first ``n`` frames an input like the sessions' hands over (a throwaway
    one, its deadlines already past so that it hands them over at once)."""
    loop = asyncio.get_running_loop()
    mic = PacedInput(loop.time() - (n + 1) * FRAME, frames)
    got = [(await mic.__anext__()).data.tobytes() for _ in range(n)]
    mic.stop()
    return common.digest(got)


async def idle(sessions: int, seconds: float, vad_kind: str, baseline: bool,
               background_path: str | None) -> dict[str, object]:
    """Idle sessions on one loop, their inputs' frames on the same deadlines (one wake serves
    them all), hearing the background file's samples (digital silence without one); the CPU
    the process uses per session."""
    background = None if background_path is None else common.read_background(background_path)
    frames = _frames(background)
    n = 50 if background is None else len(frames)
    played = await _played(frames, n)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5 + 0.1 * sessions
    # one model loaded per process, a stream (its own state) per session: LiveKit's usage
    model = _silero() if vad_kind == "silero" and not baseline else None
    running: list[tuple[AgentSession, PacedInput]] = []
    mics: list[PacedInput] = []
    drains: list[asyncio.Task[None]] = []
    for _ in range(sessions):
        if baseline:
            mic = PacedInput(t0, frames)
            mics.append(mic)
            drains.append(asyncio.ensure_future(_drain(mic)))
        else:
            session = _session([], t0, vad_=model)
            mic, _out = await _start(session, t0, frames)
            running.append((session, mic))
    await asyncio.sleep(t0 + common.IDLE_SETTLE - loop.time())
    cpu = await common.cpu_while(seconds)
    for task in drains:
        task.cancel()
    for mic in mics:
        mic.stop()
    for session, mic in running:
        await _close(session, mic)
    return {"cpu_per_session": cpu / sessions, "played": played, "frames": n}


async def _drain(mic: PacedInput) -> None:
    while True:
        await mic.__anext__()


async def rss(sessions: int) -> dict[str, object]:
    import gc

    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2
    running = []
    first = _session([], t0)
    running.append((first, (await _start(first, t0))[0]))
    await asyncio.sleep(0.5)
    gc.collect()
    one = common.rss_mb()
    for _ in range(sessions):
        s = _session([], t0)
        running.append((s, (await _start(s, t0))[0]))
    await asyncio.sleep(0.5)
    gc.collect()
    many = common.rss_mb()
    for session, mic in running:
        await _close(session, mic)
    return {"per_session_mb": (many - one) / sessions}


async def capacity(start: int, limit: int, seconds: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    running: list[tuple[AgentSession, PacedInput]] = []

    async def add(n: int) -> None:
        t0 = loop.time() + 0.1
        for _ in range(n):
            s = _session([], t0)
            running.append((s, (await _start(s, t0))[0]))

    result = await common.capacity(add, start=start, limit=limit, seconds=seconds)
    for session, mic in running:
        await _close(session, mic)
    return result


async def scenario() -> dict[str, object]:
    """The scripted conversation in real time (LiveKit's sessions run on the wall clock), with
    LiveKit's default endpointing delay; wall seconds until the last reply has played."""
    loop = asyncio.get_running_loop()
    wall = time.perf_counter()
    t0 = loop.time() + 0.1
    script = common.scenario_script()
    session = _session(script, t0, endpointing=0.5)
    mic, out = await _start(session, t0)
    last = script[-1]
    deadline = t0 + last.end + 30.0
    replies = 0
    while loop.time() < deadline:
        replies = sum(1 for a, b in zip(out.times, out.times[1:], strict=False)
                      if b - a > 0.3) + (1 if out.times else 0)
        if replies >= len(script) and loop.time() > out.times[-1] + last.audio:
            break
        await asyncio.sleep(0.05)
    await _close(session, mic)
    return {"wall_s": time.perf_counter() - wall, "replies": replies}


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
    jobs = {
        "turns": lambda: turns(a.turns),
        "idle": lambda: idle(a.sessions, a.seconds, a.vad, a.baseline, a.background),
        "rss": lambda: rss(a.sessions),
        "capacity": lambda: capacity(a.start, a.limit, a.seconds),
        "scenario": scenario,
    }
    common.answer(asyncio.run(jobs[a.measure]()))


if __name__ == "__main__":
    main()
