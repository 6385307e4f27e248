"""Scenarios: preemptive generation on the preflight transcript of a batch STT.

A batch STT (``FakeSTT(streaming=False)``) recognizes speculatively once the VAD has counted
``speculative_stt_delay`` (0.2 s) of silence; its result, back while the silence still holds,
is a preflight transcript, and the reply starts on it. The user speaks 0.5-2.5 s: speculation
at 2.7, preflight at 2.9 (``stt_delay`` 0.2), the VAD's end (0.55 s of silence) at 3.05, when
the final (the same words) comes and the turn commits (``min_endpointing_delay`` 0.5 from 2.5
is 3.0, already past). LLM 0.1/0.3 s, TTS 0.2 s to the first audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from flowagents.llm import ChatContext, FunctionTool, function_tool
from flowagents.testing import FakeLLM, FakeSTT, Script
from flowagents.voice import Agent

from .conftest import approx, run

HELLO = "Hello, how are you?"
REPLY = "I'm doing well, thank you!"


def batch(script: Script, **options: Any) -> dict[str, Any]:
    return {"stt": FakeSTT(script, streaming=False), "speculative_stt_delay": 0.2, **options}


def hello() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=HELLO)
    s.llm_reply(input=HELLO, content=REPLY)
    s.tts_audio(input=REPLY, audio_duration=2.0)
    return s


def test_the_reply_starts_on_the_preflight_and_is_kept_by_the_same_final() -> None:
    s = hello()
    r = run(s, options=batch(s, preemptive_tts=True), vad_inference_interval=0.01)
    assert r.llm is not None
    assert r.tts is not None
    # one LLM call, at the preflight (2.9), never closed: the final (3.05) said the same
    assert [(c.time, c.closed_at) for c in r.llm.calls] == [(approx(2.9), None)]
    assert [c.time for c in r.tts.calls] == [approx(3.2)]  # the sentence is whole at 3.2
    finals = [e.time for e in r.of_type("user_input_transcribed")
              if getattr(e.event, "is_final", False)]
    assert finals == [approx(3.05)]
    # nothing played or recorded before the commit (3.05); the audio was ready at 3.4
    assert r.playbacks[0].start == approx(3.4)
    assert r.messages() == [("user", HELLO, False), ("assistant", REPLY, False)]
    created = [e.time for e in r.of_type("speech_created")]
    assert created == [approx(3.05)]


def test_without_the_preflight_the_reply_waits_for_the_final() -> None:
    """The same turn with speculation off: recognize at the VAD's end, final at 3.25, LLM
    3.25-3.55, audio at 3.75 (0.35 s later than on the preflight)."""
    s = hello()
    r = run(s, options=batch(s, preemptive_tts=True, speculative_stt_delay=None),
            vad_inference_interval=0.01)
    assert r.llm is not None
    assert [c.time for c in r.llm.calls] == [approx(3.25)]
    assert r.playbacks[0].start == approx(3.75)


def test_a_changed_transcript_discards_the_reply_started_on_the_preflight() -> None:
    """"one two" (0.5-1.5), a 0.4 s pause (VAD silence 0.3 s: its end at 1.8), "three"
    (1.9-2.5). The reply started on the first preflight (1.8) is dropped when speech starts
    again (1.95, dated 1.9); the one started on "one two three" (preflight 2.8) is kept by the
    final (2.8, the VAD's end) and plays after the commit at 3.0 (2.5 + 0.5)."""
    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=0.1)
    s.user_speech(start=1.9, end=2.5, transcript="three", stt_delay=0.1)
    s.llm_reply(input="one two", content="Two.")
    s.llm_reply(input="one two three", content="Three.")
    s.tts_audio(input="Three.", audio_duration=1.0)
    r = run(s, options=batch(s, preemptive_tts=True, min_silence_duration=0.3, pre_roll=0.2),
            vad_inference_interval=0.01)
    assert r.llm is not None
    assert [(round(c.time, 6), c.input, c.closed_at) for c in r.llm.calls] == [
        (1.8, "one two", approx(1.95)), (2.8, "one two three", None)]
    assert [round(e.time, 6) for e in r.of_type("speech_created")] == [3.0]
    assert r.playbacks[0].start == approx(3.3)  # LLM 2.8-3.1, TTS 3.1 + 0.2
    assert r.messages() == [("user", "one two three", False), ("assistant", "Three.", False)]


def test_speech_again_inside_the_silence_wait_drops_the_reply_started_on_the_preflight() -> None:
    """"one two" (0.5-1.5), a 0.25 s pause (shorter than the VAD's 0.3 s silence: one segment,
    no new START_OF_SPEECH), "three" (1.75-2.5). Speculation at 1.6 (0.1 s of silence), the
    preflight "one two" at 1.7 starts a reply; the user goes on at 1.75 and the VAD's window
    ending there (no silence) drops it (the bug: it lived on, its LLM and TTS running while the
    user spoke, until the next transcript at 2.7). The reply on "one two three" (preflight
    2.7: speculation 2.6, stt_delay 0.1) is kept by the final (2.8, the VAD's end) and plays
    after the commit at 3.0 (2.5 + 0.5): LLM 2.7-3.0, TTS 3.0 + 0.2."""
    s = Script()
    s.user_speech(start=0.5, end=1.5, transcript="one two", stt_delay=0.1)
    s.user_speech(start=1.75, end=2.5, transcript="three", stt_delay=0.1)
    s.llm_reply(input="one two", content="Two.")
    s.llm_reply(input="one two three", content="Three.")
    s.tts_audio(input="Two.", audio_duration=1.0)
    s.tts_audio(input="Three.", audio_duration=1.0)
    r = run(s, options=batch(s, preemptive_tts=True, min_silence_duration=0.3, pre_roll=0.2,
                             speculative_stt_delay=0.1),
            vad_inference_interval=0.01)
    assert r.llm is not None
    assert r.tts is not None
    assert [(round(c.time, 6), c.input, c.closed_at) for c in r.llm.calls] == [
        (1.7, "one two", approx(1.75)), (2.7, "one two three", None)]
    assert [(round(c.time, 6), c.text) for c in r.tts.calls] == [(3.0, "Three.")]
    assert [round(e.time, 6) for e in r.of_type("speech_created")] == [3.0]
    assert r.playbacks[0].start == approx(3.2)
    assert r.messages() == [("user", "one two three", False), ("assistant", "Three.", False)]


class PrewarmedLLM(FakeLLM):
    """Records each prewarm hint: when, the conversation it was given, and the tools."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.hints: list[tuple[float, list[tuple[str, str]], list[str]]] = []

    def prewarm(self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = ()) -> None:
        items = [(i.role, i.text_content or "") for i in chat_ctx.items if i.type == "message"]
        self.hints.append((asyncio.get_running_loop().time(), items,
                           [t.name for t in tools]))


def test_the_llm_is_told_to_read_the_conversation_when_the_user_starts_speaking() -> None:
    """Each START_OF_SPEECH (0.55 for speech from 0.5, 6.55 for 6.5: min_speech 0.05) hints
    the LLM with the conversation so far, without the words being said, and the agent's
    tools: the first with the instructions only, the second with the first turn answered."""

    @function_tool
    async def lookup_weather(location: str) -> str:
        """Look up the weather."""
        return "sunny"

    s = hello()
    s.user_speech(start=6.5, end=7.5, transcript="Thanks.")  # the reply played 3.4-5.4
    s.llm_reply(input="Thanks.", content="You're welcome.")
    llm = PrewarmedLLM(s)
    agent = Agent(instructions="Be helpful.", tools=[lookup_weather])
    r = run(s, agent, options=batch(s, llm=llm), vad_inference_interval=0.01)
    assert [(round(t, 6), items, tools) for t, items, tools in llm.hints] == [
        (0.55, [("system", "Be helpful.")], ["lookup_weather"]),
        (6.55, [("system", "Be helpful."), ("user", HELLO), ("assistant", REPLY)],
         ["lookup_weather"])]
    assert r.messages()[-1] == ("assistant", "You're welcome.", False)


def test_a_failing_prewarm_is_reported_and_the_turn_is_answered() -> None:
    class Failing(FakeLLM):
        def prewarm(self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = ()) -> None:
            raise RuntimeError("no model")

    s = hello()
    r = run(s, options=batch(s, llm=Failing(s)), vad_inference_interval=0.01)
    errors = [e.event for e in r.of_type("error")]
    assert [(type(e.error).__name__, str(e.error)) for e in errors] == [
        ("RuntimeError", "no model")]
    assert r.messages() == [("user", HELLO, False), ("assistant", REPLY, False)]
