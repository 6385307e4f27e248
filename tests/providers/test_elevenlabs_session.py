"""A voice session that speaks through ElevenLabs (with Deepgram and OpenAI, each against its
local server, in virtual time): two replies of several sentences each, every sentence a context
of its own on one socket, so the whole conversation pays one handshake.

Script: the microphone (16 kHz, 20 ms frames) is loud 0.5-2.0 s and 5.0-6.5 s; the testing
kit's VAD hears the same spans. Deepgram's server hears the two utterances; OpenAI's server
answers the scripted replies; ElevenLabs' voices 0.1 s per word.
"""

from __future__ import annotations

import asyncio

from flowagents.plugins import deepgram, elevenlabs, openai
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import Script
from flowagents.testing.audio import RecordingAudioOutput
from flowagents.testing.fakes import FakeVAD
from flowagents.voice import Agent, SessionIO

from .deepgram_server import DeepgramServer
from .elevenlabs_server import ElevenLabsServer
from .microphone import Microphone
from .openai_server import OpenAIServer, Reply

FIRST = "It is noon in Tokyo. The sun is high. Have a good day."
SECOND = "You are welcome. Goodbye for now."


def test_two_replies_of_several_sentences_share_one_elevenlabs_socket() -> None:
    dg, oa, el = DeepgramServer(), OpenAIServer(), ElevenLabsServer()
    dg.utterances.extend(["what time is it", "thank you"])
    oa.replies.extend([Reply(text=FIRST), Reply(text=SECOND)])
    script = Script()
    script.user_speech(start=0.5, end=2.0, transcript="(heard by Deepgram)")
    script.user_speech(start=5.0, end=6.5, transcript="(heard by Deepgram)")

    async def main() -> tuple[AgentSession, RecordingAudioOutput]:
        async with dg as dg_url, oa as oa_url, el as el_url:
            stt = deepgram.STT(base_url=dg_url, api_key=dg.api_key, endpointing_ms=300)
            llm = openai.LLM(base_url=oa_url, api_key=oa.api_key)
            tts = elevenlabs.TTS(base_url=el_url, api_key=el.api_key)
            session = AgentSession(vad=FakeVAD(script), stt=stt, llm=llm, tts=tts)
            output = RecordingAudioOutput()
            await session.start(Agent(instructions="Tell the time."), io=SessionIO(
                audio_input=Microphone([(0.5, 2.0), (5.0, 6.5)], 10.0), audio_output=output))
            await asyncio.sleep(10.5)
            await session.aclose()
            for provider in (stt, llm, tts):
                await provider.aclose()
            return session, output

    session, output = run_virtual(main())
    messages = [(m.role, m.text_content) for m in session.history.items if m.type == "message"]
    assert messages == [("user", "what time is it"), ("assistant", FIRST),
                        ("user", "thank you"), ("assistant", SECOND)]
    # one context per sentence, all on the one socket the first sentence opened
    assert len(el.requests("multi-stream-input")) == 1
    voiced = [" ".join(t.strip() for t in texts) for texts in el.contexts.values()]
    assert " ".join(voiced) == f"{FIRST} {SECOND}"
    first_reply = next(n for n in range(len(voiced) + 1) if " ".join(voiced[:n]) == FIRST)
    assert first_reply >= 2  # (the sentence splitter may join short sentences)
    assert len(el.happened("final")) == len(voiced)
    played = sum(f.frame.duration for f in output.frames)
    assert abs(played - 0.1 * len(f"{FIRST} {SECOND}".split())) < 1e-6
