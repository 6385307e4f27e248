"""TTS node: attach to each speech its audio, voiced sentence by sentence as the text streams.

Per speech, the text of each step goes through a streaming sentence splitter; each sentence (and
what is left when the step ends) is voiced by the agent's ``tts_node`` in order, so the first
sentence plays while the LLM is still writing the rest. The first piece of a step may end at a
clause boundary (``first_clause_words``, 4 by default: "The weather in Tokyo is mostly sunny,"),
so a TTS that voices a whole piece before its first audio starts sooner; the rest go by
sentence. The audio stream carries markers around each piece: its start (with the text to show,
from the agent's ``transcription_node``), its end, and the end of each step, which playout uses
to sync the transcription and to cut the history. Disposing the audio stream cancels the
synthesis in flight and the text stream behind it. With
``preemptive_tts`` a preemptive speech's audio starts before its turn commits (and is replayed).
A session without a TTS (``AgentSession(tts=None)``, an agent that keeps the base ``tts_node``)
is text-only: each piece is shown, with no audio, and the reply goes to the text output.
Each synthesis runs under the session's ``tts_conn_options`` (a stall times out, a failure
before the first audio is retried: :mod:`nodes.reply.provider_calls`; when its retries are
spent the speech's audio fails, and playout keeps the text whose audio failed), each attempt
goes out on ``requests``; it is reported as :class:`~flowagents.metrics.TTSMetrics` and traced
as a ``tts_request`` span under the turn's span.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial
from typing import Any

from pydantic import Field
from reactivex import Observable
from reactivex import operators as ops

from flowagents.errors import APIConnectOptions
from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.metrics import TTSMetrics
from flowagents.runtime.bridge import from_async_iterable, to_async_iterator
from flowagents.runtime.replay import replay_now
from flowagents.runtime.subject import LoopSubject
from flowagents.telemetry import spans
from flowagents.tokenize import DEFAULT_FIRST_CLAUSE_WORDS, SentenceStream
from flowagents.types import AudioFrame, SynthesizedAudio
from flowagents.voice.agent import Agent, ModelSettings, TextSegment
from flowagents.voice.options import default
from flowagents.voice.signals import ProviderRequest
from flowagents.voice.speech import AgentAudio, ReplyText, Speech
from nodes.reply.provider_calls import ProviderCalls

__all__ = ["TTSNode", "TTSNodeConfig", "speech_audio"]


class TTSNodeConfig(NodeConfig):
    preemptive_tts: bool = default("preemptive_tts")
    first_clause_words: int | None = Field(
        DEFAULT_FIRST_CLAUSE_WORDS, ge=0,
        description="words after which a step's first piece may end at a clause boundary "
                    "(',', ';', ':'); None: whole sentences only")
    conn_options: APIConnectOptions = Field(
        default("conn_options").tts_conn_options,
        description="each synthesis's stall timeout and retries (the session's "
                    "conn_options.tts_conn_options)")


async def _voice(speech: Speech, now: Callable[[], float], report: Callable[[Any], None],
                 first_clause_words: int | None, calls: ProviderCalls
                 ) -> AsyncIterator[AgentAudio]:
    """The speech's audio, piece by piece, in one generator: on the way from the end of speech
    to the first audio every nested generator or awaited no-op hook costs calls per piece."""
    agent = speech.agent
    assert speech.text is not None
    settings = ModelSettings()
    splitter = SentenceStream(first_clause_words=first_clause_words)
    shows_as_is = agent is None or (type(agent).transcription_node
                                    is Agent.transcription_node)
    # no TTS and the base tts_node: a text-only session, each piece shown with no audio
    text_only = (agent is not None and agent.session.tts is None
                 and type(agent).tts_node is Agent.tts_node)

    piece: ReplyText
    async for piece in to_async_iterator(speech.text):
        texts = splitter.push(piece.delta) if piece.delta else []
        if piece.end_of_step:
            texts = [*texts, *splitter.flush()]
        for text in texts:
            step = piece.step
            shown = text
            if not shows_as_is:
                assert agent is not None
                shown = await agent.transcription_node(text, settings)
            yield AgentAudio(None, step, text=shown)
            if agent is None:
                raise RuntimeError("a speech needs an agent to be voiced")
            if text_only:
                yield AgentAudio(None, step, end_of_segment=True)
                continue
            started = now()
            first: float | None = None
            audio = 0.0
            tts = agent.session.tts
            label = getattr(tts, "label", "tts")
            with speech.traced(), spans.tts_request(label=label, text=text, speech_id=speech.id):
                async for chunk in calls.tts(tts, text, speech.id,
                                             partial(agent.tts_node, TextSegment(text), settings)):
                    frame: AudioFrame = (chunk.frame if isinstance(chunk, SynthesizedAudio)
                                         else chunk)
                    if first is None:
                        first = now() - started
                    audio += frame.duration
                    yield AgentAudio(frame, step)
            yield AgentAudio(None, step, end_of_segment=True)
            report(TTSMetrics(now(), label=label, ttfb=-1.0 if first is None else first,
                              duration=now() - started, audio_duration=audio,
                              characters_count=len(text), speech_id=speech.id))
        if piece.end_of_step:
            yield AgentAudio(None, piece.step, end_of_step=True)


def speech_audio(*, now: Callable[[], float], report: Callable[[Any], None], loop: Any = None,
                 first_clause_words: int | None = DEFAULT_FIRST_CLAUSE_WORDS,
                 calls: ProviderCalls | None = None
                 ) -> Callable[[Speech], Observable[AgentAudio]]:
    """The audio stream of one speech (see the module docstring). Subscribing runs it at once up
    to its first wait (``eager``): playout gets the audio already at hand without a loop hop.
    ``calls``: the synthesis policy and where attempts are noted (default: the default
    options, not noted)."""
    policy = calls or ProviderCalls("tts", APIConnectOptions(), now, lambda r: None)

    def make(speech: Speech) -> Observable[AgentAudio]:
        return from_async_iterable(
            lambda: _voice(speech, now, report, first_clause_words, policy), loop, eager=True)

    return make


class TTSNode(Node):
    """Attach each speech's audio stream (see the module docstring). Emits the speeches."""

    Config = TTSNodeConfig
    kind = "provider"
    inputs = (In("speeches", Speech, doc="speech + text"),)
    outputs = (Out("speeches", Speech, doc="speech + audio"),
               Out("requests", ProviderRequest, doc="TTS request"))

    def default_name(self) -> str:
        return "tts"

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, TTSNodeConfig)
        report = ctx.resources.get("report_metrics") or (lambda m: None)
        requests: LoopSubject[ProviderRequest] = LoopSubject()
        make = speech_audio(now=ctx.now, report=report, loop=ctx.loop,
                            first_clause_words=cfg.first_clause_words,
                            calls=ProviderCalls("tts", cfg.conn_options, ctx.now,
                                                requests.on_next))

        def attach(speech: Speech) -> Speech:
            if speech.audio is None:
                audio = make(speech)
                if not speech.scheduled and cfg.preemptive_tts:
                    audio, connection = replay_now(audio)
                    speech.resources.add(connection)
                speech.audio = audio
            return speech

        return {"speeches": inputs["speeches"].pipe(ops.map(attach)), "requests": requests}


