"""An entrypoint that holds scripted conversations in its job process, in real time and without a
room: the testing kit's fakes play the user (speech the fake VAD hears, transcripts the fake STT
gives) and the providers (LLM and TTS with latencies).

The job's metadata (JSON; else the ``FLOWAGENTS_TEST_CONVERSE`` variable, for ``connect``,
whose job has none) says how: ``sessions`` conversations at once (1), ``turns`` user
turns each (a question every 2 s, the third one barging in on the agent), the first session
closed after ``close_first_after`` seconds (never), and the job ends ``seconds`` after it began,
or when the worker ends it. Module-level, so job processes import it by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os

from flowagents.job import JobContext
from flowagents.session import AgentSession
from flowagents.testing import (
    FakeLLM,
    FakeSTT,
    FakeTTS,
    FakeVAD,
    RecordingAudioOutput,
    Script,
    VirtualAudioInput,
)
from flowagents.voice import Agent, SessionIO

ANSWER = "Here is a fairly long answer, so that the agent is still talking."


def conversation(t0: float, turns: int) -> Script:
    """A question every 2 s from ``t0 + 0.3``; the agent's 1.5 s answer to the second question
    is cut by the third, asked 0.4 s after the answer began."""
    s = Script()
    for i in range(turns):
        start = t0 + 0.3 + i * 2.0
        if i == 2:
            start -= 0.6  # into the previous answer: a barge-in
        s.user_speech(start=start, end=start + 0.6, transcript=f"question {i}", stt_delay=0.1)
    s.llm_reply(input=None, content=ANSWER, ttft=0.05, duration=0.1)
    s.tts_audio(input=ANSWER, audio_duration=1.5, ttfb=0.05, duration=0.1)
    return s


async def converse(ctx: JobContext) -> None:
    meta = json.loads(ctx.job.metadata or os.environ.get("FLOWAGENTS_TEST_CONVERSE", "{}"))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sessions = []
    for _ in range(meta.get("sessions", 1)):
        script = conversation(t0, meta.get("turns", 6))
        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script),
                               tts=FakeTTS(script), min_silence_duration=0.2,
                               min_endpointing_delay=0.1, user_away_timeout=None)
        await session.start(agent=Agent(instructions="answer"), io=SessionIO(
            audio_input=VirtualAudioInput(None, 0.02, start=t0),
            audio_output=RecordingAudioOutput()))
        sessions.append(session)
    try:
        close_first = meta.get("close_first_after")
        if close_first is not None:
            await asyncio.sleep(close_first)
            await sessions[0].aclose()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.wait_for_shutdown(), meta.get("seconds", 60.0)
                                   - (loop.time() - t0))
    finally:
        for session in sessions:
            await session.aclose()
