"""A voice session whose STT, LLM and TTS are all hosted: Deepgram, OpenAI and Cartesia, each
against its local server, in virtual time.

Script: the microphone (16 kHz, 20 ms frames) is loud 0.5-2.0 s; the testing kit's VAD hears
the same span. Deepgram's server hears the tone as "what time is it" (an interim every 0.3 s of
speech, the final after 0.3 s of quiet); the LLM echoes; Cartesia voices 0.1 s per word.
"""

from __future__ import annotations

import asyncio

from flowagents.metrics import LLMMetrics, STTMetrics, TTSMetrics
from flowagents.plugins import cartesia, deepgram, openai
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import Script
from flowagents.testing.audio import RecordingAudioOutput
from flowagents.testing.fakes import FakeVAD
from flowagents.voice import Agent, SessionIO

from .cartesia_server import CartesiaServer
from .deepgram_server import DeepgramServer
from .microphone import Microphone
from .openai_server import OpenAIServer


def test_a_turn_on_deepgram_openai_and_cartesia() -> None:
    dg, oa, ca = DeepgramServer(), OpenAIServer(), CartesiaServer()
    dg.utterances.append("what time is it")
    script = Script()
    script.user_speech(start=0.5, end=2.0, transcript="(heard by Deepgram)")

    async def main() -> tuple[AgentSession, RecordingAudioOutput, list[object]]:
        async with dg as dg_url, oa as oa_url, ca as ca_url:
            stt = deepgram.STT(base_url=dg_url, api_key=dg.api_key, endpointing_ms=300)
            llm = openai.LLM(base_url=oa_url, api_key=oa.api_key)
            tts = cartesia.TTS(base_url=ca_url, api_key=ca.api_key)
            session = AgentSession(vad=FakeVAD(script), stt=stt, llm=llm, tts=tts)
            metrics: list[object] = []
            session.on("metrics_collected", lambda e: metrics.append(e.metrics))
            output = RecordingAudioOutput()
            await session.start(Agent(instructions="Tell the time."), io=SessionIO(
                audio_input=Microphone([(0.5, 2.0)], 6.0), audio_output=output))
            await asyncio.sleep(6.5)
            await session.aclose()
            for provider in (stt, llm, tts):
                await provider.aclose()
            return session, output, metrics

    session, output, metrics = run_virtual(main())
    messages = [(m.role, m.text_content) for m in session.history.items if m.type == "message"]
    assert messages == [("user", "what time is it"), ("assistant", "You said: what time is it")]
    # Deepgram heard the audio the VAD gated, and the LLM got its final transcript
    assert dg.requests("listen")
    assert oa.requests("chat")[0]["messages"][-1] == {"role": "user",
                                                      "content": "what time is it"}
    # Cartesia voiced the reply: 6 words, 0.1 s each
    (context,) = ca.contexts.values()
    assert "".join(context) == "You said: what time is it"
    played = sum(f.frame.duration for f in output.frames)
    assert abs(played - 0.6) < 1e-6
    kinds = {type(m).__name__: m for m in metrics}
    stt_metrics, llm_metrics, tts_metrics = (
        kinds["STTMetrics"], kinds["LLMMetrics"], kinds["TTSMetrics"])
    assert isinstance(stt_metrics, STTMetrics)
    assert (stt_metrics.label, stt_metrics.streamed) == ("deepgram", True)
    assert stt_metrics.audio_duration > 1.0
    assert isinstance(llm_metrics, LLMMetrics)
    assert (llm_metrics.label, llm_metrics.completion_tokens) == ("openai", 7)
    assert isinstance(tts_metrics, TTSMetrics)
    assert (tts_metrics.label, round(tts_metrics.audio_duration, 6)) == ("cartesia", 0.6)
