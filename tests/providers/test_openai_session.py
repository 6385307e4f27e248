"""A voice session whose LLM is openai.LLM against the local server, alone and behind a fallback.

Script: the user says HELLO 0.5-2.5 s (STT delay 0.2 s); the fake VAD, STT and TTS of
``flowagents.testing`` do the rest, so only the LLM crosses the network (to 127.0.0.1, on the
same virtual-time loop).
"""

from __future__ import annotations

from flowagents.llm import ChatContext, FallbackAdapter
from flowagents.metrics import LLMMetrics, STTMetrics, TTSMetrics
from flowagents.plugins import openai
from flowagents.runtime import run_virtual
from flowagents.testing import Script, SimulationResult, simulate
from flowagents.voice import Agent

from .openai_server import Fault, OpenAIServer, Reply

KEY = "sk-test-0123456789"
HELLO = "Hello, how is the weather?"


def _script() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=HELLO, stt_delay=0.2)
    return s


def test_voice_session_with_the_openai_llm() -> None:
    server = OpenAIServer(api_key=KEY)
    reply = "The weather is sunny today."

    async def main() -> SimulationResult:
        async with server as url:
            llm = openai.LLM(model="gpt-4o-mini", base_url=url, api_key=KEY)
            server.replies.append(Reply(text=reply, delay=0.3, interval=0.05, usage=(20, 6)))
            result = await simulate(_script(), agent=Agent(instructions="Be helpful."),
                                    options={"llm": llm})
            await llm.aclose()
            return result

    r = run_virtual(main())
    assert r.messages() == [("user", HELLO, False), ("assistant", reply, False)]
    (body,) = server.requests("chat")
    assert body["messages"] == [{"role": "system", "content": "Be helpful."},
                                {"role": "user", "content": HELLO}]
    (metrics,) = [m for m in r.metrics if isinstance(m, LLMMetrics)]
    assert metrics.label == "openai"
    assert metrics.request_id.startswith("chatcmpl-")  # the completion's id, as LiveKit reports
    # the server waits 0.3 s, sends the role chunk, then a chunk every 0.05 s: 5 words, the
    # finish reason, the usage, [DONE]
    assert round(metrics.ttft, 6) == 0.35
    assert round(metrics.duration, 6) == 0.7
    assert (metrics.prompt_tokens, metrics.completion_tokens) == (20, 6)


def test_fallback_completes_a_reply_the_first_llm_dropped_mid_stream() -> None:
    first, second = OpenAIServer(api_key=KEY), OpenAIServer(api_key=KEY)

    async def main() -> SimulationResult:
        async with first as url_a, second as url_b:
            a = openai.LLM(model="primary", base_url=url_a, api_key=KEY)
            b = openai.LLM(model="backup", base_url=url_b, api_key=KEY)
            # a streams "The weather " and drops the connection; b continues
            first.replies.append(Reply(text="The weather where you are", interval=0.05,
                                       disconnect_after=3))
            second.replies.append(Reply(text="is sunny today.", interval=0.05))
            llm = FallbackAdapter([a, b])
            result = await simulate(_script(), agent=Agent(instructions="Be helpful."),
                                    options={"llm": llm})
            await llm.aclose()
            await a.aclose()
            await b.aclose()
            return result

    r = run_virtual(main())
    assert r.messages() == [("user", HELLO, False),
                            ("assistant", "The weather is sunny today.", False)]
    assert len(first.requests("chat")) == 1
    (body,) = second.requests("chat")
    assert body["model"] == "backup"
    assert body["messages"][-2:] == [{"role": "user", "content": HELLO},
                                     {"role": "assistant", "content": "The weather "}]


def test_barge_in_closes_the_hosted_llm_stream_at_the_interruption() -> None:
    """The user asks for a story (0.5-2.5 s) and interrupts at 5.0 s; the agent's LLM (one
    piece every 0.5 s) and TTS are hosted. The output cannot pause, so the reply stops at
    5.5 s (0.5 s of the user's speech): the LLM's HTTP stream is closed at that very time."""
    server = OpenAIServer(api_key=KEY)
    story = ["Once upon a time there was a fox. ", "It ", "lived ", "in ", "a ", "big ",
             "forest. ", "The ", "end."]

    async def main() -> SimulationResult:
        async with server as url:
            llm = openai.LLM(base_url=url, api_key=KEY)
            tts = openai.TTS(base_url=url, api_key=KEY)
            server.replies.append(Reply(pieces=story, interval=0.5))
            s = Script()
            s.user_speech(start=0.5, end=2.5, transcript="Tell me a story.")
            s.user_speech(start=5.0, end=6.0, transcript="Stop please.")
            result = await simulate(s, agent=Agent(instructions="Be helpful."),
                                    options={"llm": llm, "tts": tts}, pausable_output=False)
            await llm.aclose()
            await tts.aclose()
            return result

    r = run_virtual(main())
    # the preemptive request at the final transcript (2.7), its first sentence voiced once the
    # next piece confirms its end (3.7), the reply to "Stop please." (6.2) and its speech
    assert [kind for kind, _, _ in server.seen] == ["chat", "speech", "chat", "speech"]
    assert [round(t, 6) for t in server.times] == [2.7, 3.7, 6.2, 6.55]
    assert [round(t, 6) for t in server.closed_at] == [5.5]
    assert r.messages() == [
        ("user", "Tell me a story.", False),
        ("assistant", "Once upon a time there was a fox.", True),
        ("user", "Stop please.", False), ("assistant", "You said: Stop please.", False)]
    tts_metrics = [(m.label, round(m.audio_duration, 6)) for m in r.metrics
                   if isinstance(m, TTSMetrics)]
    assert tts_metrics == [("openai-tts", 0.8), ("openai-tts", 0.4)]  # 0.1 s a word


def test_voice_session_with_hosted_stt_llm_and_tts() -> None:
    server = OpenAIServer(api_key=KEY, transcript="What time is it?")

    async def main() -> SimulationResult:
        async with server as url:
            hosted = {"stt": openai.STT(base_url=url, api_key=KEY),
                      "llm": openai.LLM(base_url=url, api_key=KEY),
                      "tts": openai.TTS(base_url=url, api_key=KEY)}
            result = await simulate(_script(), agent=Agent(instructions="Be helpful."),
                                    options=hosted)
            for provider in hosted.values():
                await provider.aclose()
            return result

    r = run_virtual(main())
    assert r.messages() == [("user", "What time is it?", False),
                            ("assistant", "You said: What time is it?", False)]
    (stt,) = [m for m in r.metrics if isinstance(m, STTMetrics)]
    assert stt.label == "openai-stt"
    assert stt.request_id.startswith("req_")
    assert stt.audio_duration > 2.0  # the VAD's segment, pre-roll included
    (wav,) = server.requests("transcriptions")
    assert wav["file_bytes"] == 44 + 2 * round(stt.audio_duration * 16000)


def test_fallback_retries_a_self_retrying_llm_by_its_own_budget_only() -> None:
    """The adapter runs each LLM's retries (max_retry_per_llm=1: two attempts); the provider,
    which retries by itself elsewhere, makes one request per attempt here."""
    first, second = OpenAIServer(api_key=KEY), OpenAIServer(api_key=KEY)

    async def main() -> str:
        async with first as url_a, second as url_b:
            a = openai.LLM(base_url=url_a, api_key=KEY)
            b = openai.LLM(base_url=url_b, api_key=KEY)
            first.replies.extend([Fault(500)] * 4)
            second.replies.append(Reply(text="from b"))
            llm = FallbackAdapter([a, b], max_retry_per_llm=1)
            ctx = ChatContext()
            ctx.add_message(role="user", content="hi")
            text = "".join([c.delta async for c in llm.chat(chat_ctx=ctx)])
            for closing in (llm, a, b):
                await closing.aclose()
            return text

    assert run_virtual(main()) == "from b"
    assert len(first.requests("chat")) == 2
