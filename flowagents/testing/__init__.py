"""The testing kit: scripted conversations on a virtual clock, with fake providers.

A :class:`Script` says what the user says and when and how the providers answer; the fakes
(:class:`FakeVAD`, :class:`FakeSTT`, :class:`FakeLLM`, :class:`FakeTTS`) play it with exact
timing on the loop clock; :class:`VirtualAudioInput` and :class:`RecordingAudioOutput` stand in
for the microphone and the speaker. See ``docs/testing.md``.
"""

from .audio import CapturedFrame, RecordingAudioOutput, VirtualAudioInput
from .fakes import (
    FakeLLM,
    FakeSpeechStream,
    FakeSTT,
    FakeSynthesizeStream,
    FakeTTS,
    FakeVAD,
    FakeVADStream,
    LLMCall,
    RecognizeCall,
    TTSCall,
    llm_input_keys,
    sleep_until,
)
from .script import (
    DEFAULT_LLM_DURATION,
    DEFAULT_LLM_TTFT,
    DEFAULT_STT_DELAY,
    DEFAULT_TTS_DURATION,
    DEFAULT_TTS_TTFB,
    SECONDS_PER_CHARACTER,
    FakeToolCall,
    LLMReply,
    ProviderFault,
    Script,
    TTSAudio,
    UserSpeech,
    normalize_text,
    recorded_agent_states,
    script_from_recording,
)

__all__ = [
    "DEFAULT_LLM_DURATION",
    "DEFAULT_LLM_TTFT",
    "DEFAULT_STT_DELAY",
    "DEFAULT_TTS_DURATION",
    "DEFAULT_TTS_TTFB",
    "SECONDS_PER_CHARACTER",
    "CapturedFrame",
    "FakeLLM",
    "FakeSTT",
    "FakeSpeechStream",
    "FakeSynthesizeStream",
    "FakeTTS",
    "FakeToolCall",
    "FakeVAD",
    "FakeVADStream",
    "LLMCall",
    "LLMReply",
    "ProviderFault",
    "RecognizeCall",
    "RecordingAudioOutput",
    "Script",
    "TTSAudio",
    "TTSCall",
    "UserSpeech",
    "VirtualAudioInput",
    "llm_input_keys",
    "normalize_text",
    "recorded_agent_states",
    "script_from_recording",
    "sleep_until",
]

from .simulate import Playback, SimulationResult, TimedEvent, simulate  # noqa: E402

__all__ += ["Playback", "SimulationResult", "TimedEvent", "simulate"]

from .turn_detector import ScriptedTurnDetector, TurnPrediction  # noqa: E402

__all__ += ["ScriptedTurnDetector", "TurnPrediction"]
