"""``AgentSession(tts=None)`` is a text-only session: a reply goes to the text output whole, is
recorded in the history, and raises no error; a spoken user turn is answered the same way."""

from __future__ import annotations

import asyncio

from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import FakeLLM, FakeSTT, FakeVAD, Script
from flowagents.testing.audio import VirtualAudioInput
from flowagents.voice import Agent, SessionIO
from flowagents.voice.io import TextOutput, TranscriptionSegment

REPLY = "Hello there. How are you today?"


class Recorder(TextOutput):
    def __init__(self) -> None:
        self.segments: list[TranscriptionSegment] = []

    def capture(self, segment: TranscriptionSegment) -> None:
        self.segments.append(segment)


def test_a_typed_turn_is_answered_in_text_with_no_error() -> None:
    script = Script().llm_reply(input="Hi", content=REPLY, ttft=0.1, duration=0.5)

    async def main() -> tuple[AgentSession, Recorder, list[object], list[tuple[float, str]]]:
        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script))
        errors: list[object] = []
        states: list[tuple[float, str]] = []
        session.on("error", errors.append)
        session.on("agent_state_changed", lambda ev: states.append((session.now(),
                                                                    ev.new_state)))
        text = Recorder()
        await session.start(Agent(instructions="Be brief."), io=SessionIO(text_output=text))
        handle = session.generate_reply(user_input="Hi")
        await handle.wait_for_playout()
        await asyncio.sleep(0.1)
        await session.aclose()
        return session, text, errors, states

    session, text, errors, states = run_virtual(main())
    assert errors == []
    assert [(m.role, m.text_content) for m in session.history.items if m.type == "message"] == [
        ("user", "Hi"), ("assistant", REPLY)]
    shown = [(round(s.timestamp, 6), s.text, s.final) for s in text.segments]
    # the first sentence is shown once it is complete, the second at the end of the stream
    assert "".join(t for _, t, _ in shown).replace("  ", " ").strip() == REPLY
    assert shown[-1] == (0.5, "", True)
    assert all(0.1 < t <= 0.5 for t, _, _ in shown)
    assert [s for _, s in states] == ["thinking", "listening"]


def test_a_spoken_turn_is_answered_in_text() -> None:
    script = Script()
    script.user_speech(start=0.5, end=1.5, transcript="What time is it?", stt_delay=0.1)
    script.llm_reply(input="What time is it?", content="It is noon.", ttft=0.1, duration=0.2)

    async def main() -> tuple[AgentSession, Recorder, list[object]]:
        session = AgentSession(vad=FakeVAD(script), stt=FakeSTT(script), llm=FakeLLM(script))
        errors: list[object] = []
        session.on("error", errors.append)
        text = Recorder()
        mic = VirtualAudioInput(None, 0.01, start=0.0)
        await session.start(Agent(instructions="Be brief."),
                            io=SessionIO(audio_input=mic, text_output=text))
        await asyncio.sleep(4.0)
        await session.aclose()
        return session, text, errors

    session, text, errors = run_virtual(main())
    assert errors == []
    assert [(m.role, m.text_content) for m in session.history.items if m.type == "message"] == [
        ("user", "What time is it?"), ("assistant", "It is noon.")]
    assert [(s.text, s.final) for s in text.segments if s.participant == "agent"] == [
        ("It is noon.", False), ("", True)]
