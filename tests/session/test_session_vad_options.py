"""The VAD options given to a session (``AgentSession(min_silence_duration=0.3)``) are the ones
its VAD hears with; the VAD given keeps its own, for the other sessions that share it."""

from __future__ import annotations

from collections.abc import Sequence

from flowagents.session import AgentSession
from flowagents.types import AudioFrame, VADEvent
from flowagents.vad import VAD, VADOptions, VADStream


class _Stream(VADStream):
    def __init__(self, options: VADOptions) -> None:
        self.options = options

    def process(self, frame: AudioFrame) -> Sequence[VADEvent]:
        return ()


class _VAD(VAD):
    def __init__(self, options: VADOptions | None = None) -> None:
        super().__init__(options)
        self.model = object()  # a loaded model the copies share

    def stream(self) -> _Stream:
        return _Stream(self.options)


def test_the_session_s_silence_wait_is_the_vad_s() -> None:
    shared = _VAD(VADOptions(min_silence_duration=0.55, activation_threshold=0.6))
    session = AgentSession(vad=shared, min_silence_duration=0.3)
    assert session.vad is not None
    assert session.vad is not shared
    assert session.vad.options.min_silence_duration == 0.3
    assert session.vad.options.activation_threshold == 0.6  # not given: the VAD's own
    assert session.vad.stream().options.min_silence_duration == 0.3
    assert session.vad.model is shared.model  # type: ignore[attr-defined]
    assert shared.options.min_silence_duration == 0.55  # the shared provider is unchanged


def test_a_vad_s_options_stay_when_the_session_is_given_none() -> None:
    shared = _VAD(VADOptions(min_silence_duration=0.4))
    assert AgentSession(vad=shared).vad is shared
    assert AgentSession(vad=shared, min_endpointing_delay=0.3).vad is shared
    assert AgentSession(vad=shared, min_silence_duration=0.4).vad is shared  # already so


def test_the_pre_roll_is_the_vad_s_prefix_padding() -> None:
    session = AgentSession(vad=_VAD(), pre_roll=0.2, min_speech_duration=0.1,
                           activation_threshold=0.7)
    assert session.vad is not None
    opts = session.vad.options
    assert (opts.prefix_padding, opts.min_speech_duration, opts.activation_threshold) == (
        0.2, 0.1, 0.7)
