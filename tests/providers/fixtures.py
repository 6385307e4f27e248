"""Pytest fixtures that serve the local provider servers on their own thread, for other tests.

Import the ones you need into a conftest (``from providers.fixtures import openai_server``) and
point the provider at ``openai_server.base_url`` (``OPENAI_BASE_URL`` for code that reads the
environment). The server runs on its own loop, so an agent under test may run anywhere: another
loop, a job process. Script replies with ``openai_server.replies.append(Reply(...))``; without a
script it echoes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cartesia_server import CartesiaServer
from .deepgram_server import DeepgramServer
from .elevenlabs_server import ElevenLabsServer
from .openai_server import OpenAIServer
from .threaded import serve_in_thread

__all__ = ["cartesia_server", "deepgram_server", "elevenlabs_server", "openai_server"]


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """An OpenAI-compatible server (key ``sk-test-0123456789``); ``.base_url`` ends in /v1."""
    server = OpenAIServer()
    with serve_in_thread(server):
        yield server


@pytest.fixture
def deepgram_server() -> Iterator[DeepgramServer]:
    """A Deepgram live server (key ``dg-test-key-0123``); ``.base_url`` is its /v1/listen."""
    server = DeepgramServer()
    with serve_in_thread(server):
        yield server


@pytest.fixture
def cartesia_server() -> Iterator[CartesiaServer]:
    """A Cartesia TTS WebSocket server (key ``sk_car_test_0123``); give ``.base_url``."""
    server = CartesiaServer()
    with serve_in_thread(server):
        yield server


@pytest.fixture
def elevenlabs_server() -> Iterator[ElevenLabsServer]:
    """An ElevenLabs multi-stream-input server (key ``xi-test-key-0123``); give ``.base_url``."""
    server = ElevenLabsServer()
    with serve_in_thread(server):
        yield server
