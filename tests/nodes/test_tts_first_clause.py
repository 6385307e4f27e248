"""The TTS node voices a step's first piece up to a clause boundary, so a TTS that waits for a
whole piece (Piper) starts on "The weather in Tokyo is mostly sunny," and the rest of the reply
follows sentence by sentence; the history still holds the reply as the LLM wrote it."""

from __future__ import annotations

from flowagents.runtime import run_virtual
from flowagents.testing import Script, simulate
from flowagents.voice import Agent

FIRST = "The weather in Tokyo is mostly sunny,"
REST = ["with a light breeze and clear skies.", "Tomorrow, it may rain a little."]
REPLY = " ".join([FIRST, *REST])


def test_the_first_piece_ends_at_a_clause_and_the_rest_go_by_sentence() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="What is the weather in Tokyo?")
    s.llm_reply(input="What is the weather in Tokyo?", content=REPLY, duration=1.0)
    for text in (FIRST, *REST):
        s.tts_audio(input=text, audio_duration=1.0)
    r = run_virtual(simulate(s, agent=Agent(instructions="Be helpful.")))
    assert r.tts is not None
    assert [c.text for c in r.tts.calls] == [FIRST, *REST]
    assert r.messages()[-1] == ("assistant", REPLY, False)
