"""String descriptors for providers, as LiveKit accepts them: ``AgentSession(llm="gpt-4o")``.

``llm="openai/gpt-4o-mini"`` (or a bare OpenAI model name such as ``"gpt-4o"``),
``stt="deepgram/nova-3"`` (``"deepgram/nova-3:en"`` picks the language), ``tts="openai-tts"``,
``tts="cartesia/sonic-2:VOICE"``, ``tts="elevenlabs/eleven_flash_v2_5:VOICE"``: each string
becomes the provider it names, built from ``flowagents.plugins`` with its key from the
environment (``OPENAI_API_KEY``, ``DEEPGRAM_API_KEY``, ...). A string that names nothing raises a
:class:`DescriptorError` listing the forms that would resolve, when the session is built.
``turn_detection`` is checked here too, for the same reason: a bad value fails at construction,
not when a graph node first reads it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["TURN_DETECTION_MODES", "DescriptorError", "TurnDetectionMode", "check_turn_detection",
           "check_turn_mode", "resolve"]

Kind = Literal["llm", "stt", "tts", "vad"]
TurnDetectionMode = Literal["vad", "stt", "manual", "realtime_llm"]
TURN_DETECTION_MODES: tuple[TurnDetectionMode, ...] = ("vad", "stt", "manual", "realtime_llm")

#: bare model names that are OpenAI's (LiveKit resolves ``llm="gpt-4o"`` to OpenAI)
_OPENAI_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-)")


class DescriptorError(ValueError):
    """A provider string that resolves to nothing, or a bad ``turn_detection`` value; the
    message lists what would work."""


@dataclass(frozen=True, slots=True)
class _Form:
    """One accepted form: the provider's module and class, and what the string fills in."""

    example: str
    module: str
    cls: str
    build: Callable[[str, str], dict[str, Any]]  # (model, option after ':') -> kwargs


def _model_voice(model: str, voice: str) -> dict[str, Any]:
    return {k: v for k, v in (("model", model), ("voice", voice)) if v}


def _model_language(model: str, language: str) -> dict[str, Any]:
    return {k: v for k, v in (("model", model), ("language", language)) if v}


def _model(model: str, _option: str) -> dict[str, Any]:
    return {"model": model} if model else {}


#: kind -> provider prefix -> form
_FORMS: dict[Kind, dict[str, _Form]] = {
    "llm": {
        "openai": _Form("openai/gpt-4o-mini", "flowagents.plugins.openai", "LLM", _model),
    },
    "stt": {
        "deepgram": _Form("deepgram/nova-3[:language]", "flowagents.plugins.deepgram", "STT",
                          _model_language),
        "openai": _Form("openai/gpt-4o-transcribe[:language]", "flowagents.plugins.openai",
                        "STT", _model_language),
    },
    "tts": {
        "openai": _Form("openai/gpt-4o-mini-tts[:voice]", "flowagents.plugins.openai", "TTS",
                        _model_voice),
        "cartesia": _Form("cartesia/sonic-2[:voice]", "flowagents.plugins.cartesia", "TTS",
                          _model_voice),
        "elevenlabs": _Form("elevenlabs/eleven_flash_v2_5[:voice]",
                            "flowagents.plugins.elevenlabs", "TTS", _model_voice),
    },
    "vad": {
        "silero": _Form("silero", "flowagents.plugins.silero", "VAD", lambda _m, _o: {}),
    },
}

#: whole strings that name a provider with its defaults
_ALIASES: dict[Kind, dict[str, str]] = {
    "llm": {"openai": "openai/"},
    "stt": {"deepgram": "deepgram/", "openai-stt": "openai/", "openai": "openai/"},
    "tts": {"openai-tts": "openai/", "openai": "openai/", "cartesia": "cartesia/",
            "elevenlabs": "elevenlabs/"},
    "vad": {"silero": "silero/"},
}


def accepted(kind: Kind) -> list[str]:
    """The forms a ``kind`` string may take (for error messages and the docs)."""
    forms = [f"'{form.example}'" for form in _FORMS[kind].values()]
    forms += [f"'{alias}'" for alias in _ALIASES[kind]]
    if kind == "llm":
        forms.append("a bare OpenAI model name ('gpt-4o', 'gpt-4o-mini', 'o4-mini')")
    return forms


def resolve(kind: Kind, value: str) -> Any:
    """The provider ``value`` names for role ``kind`` (see the module docstring)."""
    text = value.strip()
    text = _ALIASES[kind].get(text.lower(), text)
    provider, slash, rest = text.partition("/")
    if not slash:
        if kind == "llm" and _OPENAI_MODEL.match(text):
            provider, rest = "openai", text
        else:
            provider = ""
    form = _FORMS[kind].get(provider.lower())
    if form is None:
        raise DescriptorError(
            f"{kind}={value!r} names no provider; {kind} strings that resolve: "
            + ", ".join(accepted(kind)))
    model, _, option = rest.partition(":")
    try:
        module = importlib.import_module(form.module)
    except ImportError as e:
        raise DescriptorError(
            f"{kind}={value!r} needs {form.module}, which cannot be imported ({e}); install "
            f"flowagents[{provider.lower()}]") from None
    return getattr(module, form.cls)(**form.build(model, option))


def check_turn_detection(value: object, *, turn_detector_type: type) -> None:
    """Reject a ``turn_detection`` that is neither a mode nor a detector, naming both."""
    if value is None or isinstance(value, turn_detector_type):
        return
    if isinstance(value, str) and value in TURN_DETECTION_MODES:
        return
    modes = ", ".join(repr(m) for m in TURN_DETECTION_MODES)
    raise DescriptorError(
        f"turn_detection={value!r} is not a turn detection mode ({modes}) or a turn detector "
        f"(a {turn_detector_type.__module__}.{turn_detector_type.__qualname__})")


def check_turn_mode(mode: TurnDetectionMode | None, *, realtime: bool,
                    realtime_llm: bool) -> None:
    """A mode the session's graph can follow: ``"realtime_llm"`` needs a realtime model, and a
    speech-to-speech session (a realtime model with no STT and TTS) takes turns by ``"vad"`` or
    ``"realtime_llm"`` only."""
    if mode == "realtime_llm" and not realtime_llm:
        raise DescriptorError("turn_detection='realtime_llm' needs a realtime model as the llm "
                              "(llm=openai.realtime.RealtimeModel(...))")
    if realtime and mode in ("stt", "manual"):
        raise DescriptorError(f"turn_detection={mode!r} needs an STT; a realtime model with no "
                              "STT and TTS takes turns by 'vad' or 'realtime_llm'")
