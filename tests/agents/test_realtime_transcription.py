"""A realtime model's reply to ``generate_reply(instructions=...)``: the instructions go with that
response (as LiveKit sends them), and the agent's transcription is the reply as the model said
it (its word pieces carry their own spaces: no doubled spaces between pieces)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from flowagents.plugins import openai
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import RecordingAudioOutput
from flowagents.voice import Agent, SessionIO, TextOutput, TranscriptionSegment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests/providers package

from providers.realtime_server import RealtimeServer  # noqa: E402

KEY = "sk-test-0123456789"
GREETING = "Hello! How can I help you today?"


class Shown(TextOutput):
    def __init__(self) -> None:
        self.segments: list[TranscriptionSegment] = []

    def capture(self, segment: TranscriptionSegment) -> None:
        self.segments.append(segment)


def test_a_realtime_reply_is_transcribed_with_single_spaces() -> None:
    server = RealtimeServer(api_key=KEY)
    server.replies.append(GREETING)

    async def main() -> tuple[list[TranscriptionSegment], list[tuple[str, str]]]:
        async with server as url:
            model = openai.realtime.RealtimeModel(base_url=url, api_key=KEY)
            session = AgentSession(llm=model)
            shown = Shown()
            await session.start(Agent(instructions="Greet."), io=SessionIO(
                audio_output=RecordingAudioOutput(), text_output=shown))
            await session.generate_reply(instructions="Greet the user.")
            await asyncio.sleep(0.5)
            history = [(i.role, i.text_content or "") for i in session.history.items
                       if i.type == "message"]
            await session.aclose()
            await model.aclose()
            return shown.segments, history

    segments, history = run_virtual(main())
    creates = [e for _, e in server.events if e["type"] == "response.create"]
    assert [c["response"].get("instructions") for c in creates] == ["Greet the user."]
    agent = [s for s in segments if s.participant == "agent"]
    assert "".join(s.text for s in agent).strip() == GREETING
    assert agent[-1].final
    assert history == [("assistant", GREETING)]
