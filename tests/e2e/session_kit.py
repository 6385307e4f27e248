"""Run an :class:`AgentSession` on the offline models with spoken clips as the user (real time).

Shared by ``test_session_offline.py`` and ``bench/bench_offline_session.py``. The session runs on
the running asyncio loop with the models in their executors, so the user's clips are played in
real time (:class:`~flowagents.cli.console_io.ClipAudioInput`) and the agent's audio is recorded
(:class:`~flowagents.cli.console_io.WavAudioOutput`). :class:`ShortAgent` stops the LLM after its
first sentence (SmolLM2 rambles), which keeps each real-time turn to a few seconds.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowagents.cli.console_cmd import SessionWatch, wait_quiet
from flowagents.cli.console_io import ClipAudioInput, WavAudioOutput, read_wav
from flowagents.llm import ChatContext, FunctionTool
from flowagents.plugins.local import LocalProviders
from flowagents.session import AgentSession
from flowagents.types import ChatChunk
from flowagents.voice import Agent, SessionIO
from flowagents.voice.agent import ModelSettings

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"
QUESTION_WAV, HELLO_WAV = AUDIO / "question.wav", AUDIO / "hello.wav"
QUESTION, HELLO = "What is the weather in Tokyo?", "Hello, what can you do?"
INSTRUCTIONS = "You are a helpful voice assistant. Answer in one short sentence."


class ShortAgent(Agent):
    """Speaks at most ``max_words`` words of each reply, ending at the first full sentence
    after ``min_words`` (the rest of the generation is cancelled)."""

    def __init__(self, *, instructions: str = INSTRUCTIONS, tools: Sequence[Any] = (),
                 min_words: int = 4, max_words: int = 30) -> None:
        super().__init__(instructions=instructions, tools=list(tools))
        self.min_words, self.max_words = min_words, max_words

    def llm_node(self, chat_ctx: ChatContext, tools: Sequence[FunctionTool],
                 model_settings: ModelSettings) -> AsyncIterable[ChatChunk | str]:
        source = super().llm_node(chat_ctx, tools, model_settings)

        async def cut() -> AsyncIterator[ChatChunk | str]:
            text = ""
            stream = aiter(source)
            try:
                async for chunk in stream:
                    yield chunk
                    text += chunk if isinstance(chunk, str) else chunk.delta
                    words = len(text.split())
                    if words >= self.max_words or (
                            words >= self.min_words and text.rstrip()[-1:] in ".!?"):
                        return
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()

        return cut()


@dataclass
class LiveSession:
    session: AgentSession
    mic: ClipAudioInput
    speaker: WavAudioOutput
    watch: SessionWatch


async def start_session(providers: LocalProviders, agent: Agent, **options: Any) -> LiveSession:
    session = AgentSession(**providers.session_kwargs(**options))
    mic, speaker = ClipAudioInput(), WavAudioOutput()
    watch = SessionWatch(session, io.StringIO(), speaker)
    await session.start(agent=agent, io=SessionIO(audio_input=mic, audio_output=speaker))
    watch.attach()
    return LiveSession(session, mic, speaker, watch)


async def say_and_wait_answer(live: LiveSession, wav: Path, *, limit: float = 60.0) -> None:
    """Play ``wav`` as the user, then wait until the turn is answered and the agent is quiet."""
    turns = len(live.watch.turns)
    replies = live.watch.replies
    await live.mic.say(read_wav(wav)).wait()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        w = live.watch
        if (len(w.turns) > turns and w.replies > replies
                and all(t.first_audio_at is not None for t in w.turns)
                and await wait_quiet(w, 0.3, deadline - loop.time())):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no answer to {wav.name} within {limit} s")
