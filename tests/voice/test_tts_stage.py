"""The TTS stage an agent can replace: ``Agent.tts_node`` gets each segment (a sentence) as a
text stream, a :class:`TextSegment`, and its default voices it with the session's TTS."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from flowagents.runtime import run_virtual
from flowagents.testing import Script
from flowagents.types import AudioFrame, SynthesizedAudio
from flowagents.voice import Agent, ModelSettings, TextSegment

from .conftest import approx, run

FIRST, SECOND = "Hello there, it is nice to meet you.", "How are you doing today?"
REPLY = f"{FIRST} {SECOND}"


def two_sentences() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Hi.")
    s.llm_reply(input="Hi.", content=REPLY)
    s.tts_audio(input=FIRST, audio_duration=1.0)
    s.tts_audio(input=SECOND, audio_duration=1.0)
    return s


def test_a_text_segment_is_a_one_piece_text_stream() -> None:
    async def main() -> list[str]:
        return [piece async for piece in TextSegment("Hello there.")]

    assert run_virtual(main()) == ["Hello there."]
    assert TextSegment("Hi.").text == "Hi."


def test_default_tts_stage_voices_each_sentence() -> None:
    r = run(two_sentences())
    assert r.tts is not None
    assert [c.text for c in r.tts.calls] == [FIRST, SECOND]
    assert r.messages()[-1] == ("assistant", REPLY, False)


def test_transcription_of_a_reply_keeps_the_space_between_its_sentences() -> None:
    r = run(two_sentences())
    agent = [seg for _, seg in r.transcriptions if seg.participant == "agent"]
    assert "".join(seg.text for seg in agent) == REPLY
    assert agent[-1].final


class Loud(Agent):
    """Reads each segment as a stream, as a user's override does, and voices it upper-cased."""

    def __init__(self) -> None:
        super().__init__(instructions="x")
        self.segments: list[list[str]] = []

    def tts_node(self, text: AsyncIterable[str],
                 model_settings: ModelSettings) -> AsyncIterable[AudioFrame | SynthesizedAudio]:
        async def run() -> AsyncIterator[AudioFrame | SynthesizedAudio]:
            pieces = [piece async for piece in text]
            self.segments.append(pieces)
            async for chunk in Agent.tts_node(self, _stream(p.upper() for p in pieces),
                                              model_settings):
                yield chunk

        return run()


async def _stream(pieces: object) -> AsyncIterator[str]:
    for piece in pieces:  # type: ignore[attr-defined]
        yield piece


def test_an_override_reads_segments_as_streams() -> None:
    s = two_sentences()
    s.tts_audio(input=FIRST.upper(), audio_duration=1.0)
    s.tts_audio(input=SECOND.upper(), audio_duration=1.0)
    agent = Loud()
    r = run(s, agent=agent)
    assert agent.segments == [[FIRST], [SECOND]]
    assert r.tts is not None
    assert [c.text for c in r.tts.calls] == [FIRST.upper(), SECOND.upper()]
    assert [p.start for p in r.playbacks] == [approx(r.playbacks[0].start)]
    assert r.messages()[-1] == ("assistant", REPLY, False)  # the text shown is the LLM's


class Masked(Agent):
    """Shows (and records) each segment with its digits masked; the TTS voices the original."""

    def __init__(self) -> None:
        super().__init__(instructions="x")

    async def transcription_node(self, text: str, model_settings: ModelSettings) -> str:
        return "".join("#" if c.isdigit() else c for c in text)


def test_transcription_node_rewrites_what_is_shown_not_what_is_voiced() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="My code?")
    s.llm_reply(input="My code?", content="Your code is 4321, keep it safe.")
    s.tts_audio(input="Your code is 4321,", audio_duration=1.0)  # the first piece: a clause
    s.tts_audio(input="keep it safe.", audio_duration=1.0)
    r = run(s, agent=Masked())
    assert r.tts is not None
    assert [c.text for c in r.tts.calls] == ["Your code is 4321,", "keep it safe."]
    assert r.messages()[-1] == ("assistant", "Your code is ####, keep it safe.", False)
    assert [p.end - p.start for p in r.playbacks] == [approx(2.0)]
