"""An example graph to look at and to test tools on: a phone-line voice agent, from real nodes.

Telephone audio (8 kHz) goes through an audio front end (a subgraph: resample to 16 kHz, raise
the level, cut 512-sample frames, the window Silero VAD scores) into the voice pipeline of
:mod:`graphs.voice` (a subgraph too, whose agent activity loops back upstream through a feedback
edge). Scripted providers from :mod:`flowagents.testing` stand in for the VAD and STT models, so
the graph builds anywhere with no model installed::

    flowagents graph render graphs.example:example_graph -o example.svg
"""

from __future__ import annotations

from flowagents.graph import Graph, Subgraph
from flowagents.testing.fakes import FakeSTT, FakeVAD
from flowagents.testing.script import Script
from flowagents.types import AudioFrame
from graphs.voice import OUTPUTS, voice_graph
from nodes.audio.chunker import Chunker
from nodes.audio.resample import Resampler
from nodes.ops.basic import Gain

__all__ = ["example_graph", "front_end"]


def front_end(*, sample_rate: int = 16000, gain_db: float = 6.0, window: int = 512) -> Graph:
    """Condition input audio for the VAD and STT: one rate, a usable level, fixed windows."""
    with Graph("front_end") as g:
        audio = g.input("audio", AudioFrame)
        audio = Resampler(sample_rate=sample_rate)(audio)
        audio = Gain(db=gain_db)(audio)
        audio = Chunker(samples_per_channel=window)(audio)
        g.output("conditioned", audio)
    return g


def example_graph(script: Script | None = None) -> Graph:
    """The front end feeding the voice pipeline; every other voice input and every voice output
    exposed under its own name."""
    script = script or Script()
    voice = Subgraph(voice_graph(vad=FakeVAD(script), stt=FakeSTT(script)))
    with Graph("phone_agent") as g:
        audio = front_end()(g.input("audio", AudioFrame))
        passed = {port.name: g.input(port.name, port.type) for port in voice.input_ports()
                  if port.name != "audio"}
        outputs = voice(audio=audio, **passed)
        for name in OUTPUTS:
            g.output(name, outputs[name])
    return g
