"""examples/minimal.py: the agent greets the user on start, then answers a question."""

from __future__ import annotations

import pytest

from flowagents.runtime import run_virtual
from flowagents.testing import Script, simulate

from .conftest import load_example

minimal = load_example("minimal")

HELLO = "Hello! How can I help you today?"
QUESTION = "What can you do?"
ANSWER = "I can answer questions."


def test_greets_on_start_then_answers() -> None:
    script = (Script()
              .llm_reply(input=minimal.GREETING, content=HELLO)
              .tts_audio(input=HELLO, audio_duration=1.5)
              .user_speech(start=3.0, end=4.0, transcript=QUESTION)
              .llm_reply(input=QUESTION, content=ANSWER)
              .tts_audio(input=ANSWER, audio_duration=1.0))
    r = run_virtual(simulate(script, agent=minimal.Assistant()))

    assert r.messages() == [("assistant", HELLO, False), ("user", QUESTION, False),
                            ("assistant", ANSWER, False)]
    # greeting: LLM 0.0-0.3, TTS asked at 0.3 (ttfb 0.2) -> speaks 0.5-2.0
    assert r.playbacks[0].start == pytest.approx(0.5, abs=1e-6)
    assert r.playbacks[0].end == pytest.approx(2.0, abs=1e-6)
    assert r.llm is not None
    assert r.llm.calls[0].input == minimal.GREETING
    assert r.agent_states[-1][1] == "listening"
