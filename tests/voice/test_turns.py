"""Scenarios: preemptive generation (on, with TTS, off), a second utterance during
``on_user_turn_completed``, and multi-sentence replies flushed and interrupted.

Latency from the user's stop (VAD end delivered at 3.05, dated 2.5) to the first agent audio,
with LLM 0.1/0.3 s and TTS 0.2/0.3 s: preemptive LLM 2.7-3.0 -> TTS at the commit (3.05) ->
3.25; with preemptive TTS the audio is ready at 3.2 and plays at the commit, 3.05; without
preemption LLM 3.05-3.35 (the single sentence is complete when the LLM ends) -> TTS -> 3.55.
"""

from __future__ import annotations

import asyncio

from flowagents.llm import ChatContext, ChatMessage
from flowagents.testing import Script
from flowagents.voice import Agent

from .conftest import approx, run, states

HELLO = "Hello, how are you?"
REPLY = "I'm doing well, thank you!"


def hello() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=HELLO)
    s.llm_reply(input=HELLO, content=REPLY)
    s.tts_audio(input=REPLY, audio_duration=2.0)
    return s


def test_preemptive_generation_on() -> None:
    r = run(hello())
    assert r.llm is not None
    assert [(c.time, c.closed_at) for c in r.llm.calls] == [(approx(2.7), None)]
    assert r.playbacks[0].start == approx(3.25)


def test_preemptive_generation_with_tts() -> None:
    r = run(hello(), options={"preemptive_tts": True})
    assert r.tts is not None
    assert [c.time for c in r.tts.calls] == [approx(3.0)]
    # audio was ready at 3.2, but nothing plays before the turn commits at 3.05
    assert r.playbacks[0].start == approx(3.2)


def test_preemptive_generation_off() -> None:
    r = run(hello(), options={"preemptive_generation": False})
    assert r.llm is not None
    assert [c.time for c in r.llm.calls] == [approx(3.05)]
    assert r.playbacks[0].start == approx(3.55)
    assert states(r.agent_states)[2:] == [(3.05, "thinking"), (3.55, "speaking"),
                                          (5.55, "listening")]


def test_preemptive_reply_is_dropped_when_the_hook_changes_the_context() -> None:
    class Editor(Agent):
        async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                         new_message: ChatMessage) -> None:
            new_message.content = ["Hello, how are you today?"]

    s = hello()
    s.llm_reply(input="Hello, how are you today?", content="Great today!")
    s.tts_audio(input="Great today!", audio_duration=1.0)
    r = run(s, agent=Editor(instructions="x"))
    assert r.llm is not None
    assert [(c.input, c.time, c.closed_at) for c in r.llm.calls] == [
        (HELLO, approx(2.7), None),  # completed at 3.0, unused
        ("Hello, how are you today?", approx(3.05), None)]
    assert r.messages()[1] == ("assistant", "Great today!", False)


def test_preemptive_reply_is_dropped_when_the_hook_changes_the_instructions() -> None:
    class Switcher(Agent):
        async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                         new_message: ChatMessage) -> None:
            await self.update_instructions("Answer in French.")

    r = run(hello(), agent=Switcher(instructions="Answer in English."))
    assert r.llm is not None
    assert [(c.time, c.closed_at) for c in r.llm.calls] == [
        (approx(2.7), None),  # preemptive, on the old instructions: completed, unused
        (approx(3.05), None)]
    assert [c.chat_ctx.items[0].text_content for c in r.llm.calls] == [  # type: ignore[union-attr]
        "Answer in English.", "Answer in French."]
    assert r.playbacks[0].start == approx(3.55)  # the fresh reply's latency, not preemption's


def test_preemptive_reply_is_used_when_the_instructions_are_unchanged() -> None:
    class Same(Agent):
        async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                         new_message: ChatMessage) -> None:
            await self.update_instructions("Answer in English.")  # the same text again

    r = run(hello(), agent=Same(instructions="Answer in English."))
    assert r.llm is not None
    assert [c.time for c in r.llm.calls] == [approx(2.7)]
    assert r.playbacks[0].start == approx(3.25)


def test_second_utterance_during_on_user_turn_completed() -> None:
    class Slow(Agent):
        def __init__(self) -> None:
            super().__init__(instructions="x")
            self.hooks: list[tuple[str, bool]] = []

        async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                         new_message: ChatMessage) -> None:
            try:
                await asyncio.sleep(3.0)
                self.hooks.append((new_message.text_content or "", True))
            except asyncio.CancelledError:
                self.hooks.append((new_message.text_content or "", False))
                raise

    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="Book a table.")
    s.user_speech(start=2.5, end=3.5, transcript="For two.")
    s.llm_reply(input="For two.", content="Done, a table for two.")
    s.tts_audio(input="Done, a table for two.", audio_duration=1.0)
    agent = Slow()
    r = run(s, agent=agent)
    # turn 1 commits at 2.05; its hook is cancelled by turn 2 (commits 4.05, hook until 7.05)
    assert agent.hooks == [("Book a table.", False), ("For two.", True)]
    assert r.messages() == [("user", "Book a table.", False), ("user", "For two.", False),
                            ("assistant", "Done, a table for two.", False)]
    assert len(r.of_type("speech_created")) == 1
    assert r.playbacks[0].start == approx(7.25)


LONG = "The first sentence is here. The second one follows it. And a third closes it."


def test_multi_sentence_reply_is_voiced_sentence_by_sentence() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Talk.")
    s.llm_reply(input="Talk.", content=LONG, ttft=0.1, duration=1.0)
    s.tts_audio(input=LONG, audio_duration=6.0)
    r = run(s)
    assert r.tts is not None
    texts = [c.text for c in r.tts.calls]
    assert texts == ["The first sentence is here.", "The second one follows it.",
                     "And a third closes it."]
    assert r.messages()[1] == ("assistant", LONG, False)
    (p,) = r.playbacks
    assert p.position == approx(r.output.audio_duration if r.output else 0.0)


def test_multi_sentence_reply_interrupted_keeps_the_played_sentences() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Talk.")
    s.llm_reply(input="Talk.", content=LONG)
    s.tts_audio(input=LONG, audio_duration=6.0)
    s.user_speech(start=6.0, end=7.0, transcript="Enough.")
    s.llm_reply(input="Enough.", content="Sure.")
    r = run(s, pausable_output=False)
    first = r.playbacks[0]
    # interrupted at 6.5, 3.25 s into the audio: sentence one (2.1 s) and part of sentence two
    assert (first.end, first.position, first.interrupted) == (approx(6.5), approx(3.25), True)
    assert first.text.startswith("The first sentence is here. The second")
    assert not first.text.endswith("it.")
    assert r.messages()[1] == ("assistant", first.text, True)
