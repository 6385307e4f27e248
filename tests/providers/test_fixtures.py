"""The threaded fixtures serve a provider that runs on another loop."""

from __future__ import annotations

import asyncio

from flowagents.llm import ChatContext
from flowagents.plugins import openai

from .fixtures import openai_server
from .openai_server import OpenAIServer

__all__ = ["openai_server"]


def test_openai_server_fixture_echoes_without_a_script(openai_server: OpenAIServer) -> None:
    async def main() -> str:
        llm = openai.LLM(base_url=openai_server.base_url, api_key=openai_server.api_key)
        ctx = ChatContext()
        ctx.add_message(role="user", content="ping")
        text = "".join([c.delta async for c in llm.chat(chat_ctx=ctx)])
        await llm.aclose()
        return text

    assert asyncio.run(main()) == "You said: ping"
    assert openai_server.base_url.endswith("/v1")
