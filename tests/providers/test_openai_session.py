"""A voice session whose LLM is openai.LLM against the local server, alone and behind a fallback.

Script: the user says HELLO 0.5-2.5 s (STT delay 0.2 s); the fake VAD, STT and TTS of
``flowagents.testing`` do the rest, so only the LLM crosses the network (to 127.0.0.1, on the
same virtual-time loop).
"""

from __future__ import annotations

from flowagents.llm import FallbackAdapter
from flowagents.metrics import LLMMetrics
from flowagents.plugins import openai
from flowagents.runtime import run_virtual
from flowagents.testing import Script, SimulationResult, simulate
from flowagents.voice import Agent

from .openai_server import OpenAIServer, Reply

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
