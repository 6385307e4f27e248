"""The graph a session runs when it is given none: chosen from its providers and options.

A speech-to-speech model (a realtime LLM with no STT or TTS) gets the realtime graph; anything
else the voice graph, shared by every session with the same options (its VAD and STT come from
each session's runtime resources, see :func:`graphs.voice.shared_voice_graph`). Without an STT
the voice graph does not listen: the user's turns come from text only, as in LiveKit.
"""

from __future__ import annotations

from typing import Any

from flowagents.graph import Graph
from flowagents.llm.realtime import RealtimeModel
from flowagents.voice.options import SessionOptions
from flowagents.voice.turn_detector import TurnDetector

__all__ = ["default_graph"]


def default_graph(*, vad: Any, stt: Any, llm: Any, tts: Any, options: SessionOptions,
                  can_pause: bool = True, turn_detection: TurnDetector | None = None,
                  attach_video: bool = False, turn_mode: str | None = None) -> Graph:
    """The graph for a session with these providers and options (see the module docstring).
    ``turn_mode``: LiveKit's ``turn_detection`` string (``"realtime_llm"``: the realtime model's
    own turn detection, so no VAD; ``"stt"``, ``"manual"``: see :func:`graphs.voice.voice_graph`).
    """
    if isinstance(llm, RealtimeModel) and stt is None and tts is None:
        from graphs.realtime import realtime_graph  # speech to speech: the model listens

        return realtime_graph(vad=None if turn_mode == "realtime_llm" else vad, options=options,
                              can_pause=can_pause, turn_detection=turn_detection)
    from graphs.voice import shared_voice_graph, voice_graph

    listen = stt is not None
    if listen and vad is None:
        raise RuntimeError("the default voice graph needs vad= with stt= (or pass graph=)")
    try:
        return shared_voice_graph(options, can_pause, turn_detection, attach_video, listen,
                                  turn_mode)
    except TypeError:  # a turn detector that cannot be a cache key: a graph of its own
        return voice_graph(options=options, can_pause=can_pause, turn_detection=turn_detection,
                           attach_video=attach_video, listen=listen, turn_mode=turn_mode)
