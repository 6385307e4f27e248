"""The realtime graph: a voice agent on a speech-to-speech model (OpenAI Realtime and the like).

The model hears and speaks; the graph still takes the turns. The user's audio, resampled to the
model's 24 kHz, goes to the model (the realtime input node), whose server VAD (or our VAD, given
``vad``) and transcripts feed the same endpointing, interruption and false-interruption rules as
the voice graph. A committed turn makes a speech whose audio is the model's response (the realtime
reply node, in place of the LLM and TTS nodes); playout plays it, and a barge-in stops it there:
the response is cancelled and the model's item truncated at the played position (the truncate
node), so the history and the model agree on what the user heard. The inputs and outputs are the
voice graph's (:data:`graphs.voice.INPUTS`, :data:`graphs.voice.OUTPUTS`) plus ``truncations``.
``AgentSession(llm=RealtimeModel(...))`` with no STT and TTS runs it.
"""

from __future__ import annotations

from flowagents.graph import Graph
from flowagents.llm import ChatItem
from flowagents.types import AudioFrame
from flowagents.vad import VAD
from flowagents.voice.agent import Agent
from flowagents.voice.options import SessionOptions
from flowagents.voice.signals import AgentActivity, PlayoutControl
from flowagents.voice.speech import Speech
from flowagents.voice.turn_detector import TurnDetector
from flowagents.voice.turns import UserTurn
from nodes.audio.realtime_input import RealtimeInputNode
from nodes.audio.resample import Resampler
from nodes.audio.vad import VADNode
from nodes.ops.basic import Merge
from nodes.reply.history import ChatHistory
from nodes.reply.playout import Playout
from nodes.reply.realtime_reply import RealtimeReply, RealtimeTruncate
from nodes.reply.turn_reply import TurnReply
from nodes.turn.active_agent import ActiveAgentNode
from nodes.turn.endpointing import Endpointing
from nodes.turn.false_interruption import FalseInterruption
from nodes.turn.interruption import Interruption
from nodes.turn.turn_detector import TurnDetectorNode
from nodes.turn.turn_filter import TurnFilter
from nodes.turn.user_state import UserStateNode

__all__ = ["REALTIME_RATE", "realtime_graph"]

REALTIME_RATE = 24000
"""The sample rate the realtime model hears."""


def realtime_graph(*, vad: VAD | None = None, options: SessionOptions | None = None,
                   can_pause: bool = True, turn_detection: TurnDetector | None = None) -> Graph:
    """The speech-to-speech pipeline for one session (the model is the job's ``llm``
    resource). With ``vad`` our VAD finds the user's turns, else the model's server VAD does.
    Preemptive generation is off: a response cannot be taken back."""
    o = options or SessionOptions()
    with Graph("realtime") as g:
        audio = g.input("audio", AudioFrame)
        requests = g.input("requests", Speech)
        text = g.input("text", UserTurn)
        interrupts = g.input("interrupts", PlayoutControl)
        agents = g.input("agents", Agent)
        messages = g.input("messages", ChatItem)
        activity = g.feedback("agent_activity", AgentActivity)
        committed = g.feedback("committed_turns", UserTurn)
        agent = ActiveAgentNode(turn_detection, defaults=o)(agents)

        model_audio = Resampler(sample_rate=REALTIME_RATE)(audio)
        if vad is not None:
            vad_events = VADNode(vad)(audio)
            transcripts = RealtimeInputNode(own_vad=True)(
                model_audio, agent.agent, vad_events).transcripts
        else:
            heard = RealtimeInputNode()(model_audio, agent.agent)
            vad_events, transcripts = heard.vad_events, heard.transcripts
        eou = TurnDetectorNode(turn_detection)(transcripts, vad_events, agent.agent, committed)
        endpointed = Endpointing()(vad_events, transcripts, eou, agent.endpointing)
        committed.bind(endpointed)
        user_turns = Merge(inputs=2, name="user_turns")(endpointed, text)
        turns = TurnFilter()(user_turns, activity, agent.turn)
        barge_in = Interruption()(vad_events, transcripts, activity, agent.turn)
        control = FalseInterruption(
            can_pause=can_pause, resume_false_interruption=o.resume_false_interruption)(
            barge_in, vad_events, transcripts, activity, agent.turn)
        reply = TurnReply(preemptive_generation=False)(
            turns, transcripts, vad_events, requests, agent.agent)
        spoken = RealtimeReply()(reply.speeches)
        orders = Merge(inputs=3, name="playout_control")(control.control, reply.control,
                                                         interrupts)
        playout = Playout()(spoken.speeches, orders)
        activity.bind(playout.activity)
        truncations = RealtimeTruncate()(playout.playback)
        history = ChatHistory()(agent.agent, reply.user, messages, playout.playback,
                                spoken.tools, agent["items"])
        user = UserStateNode(user_away_timeout=o.user_away_timeout)(vad_events, activity)

        g.output("audio_out", playout.audio)
        g.output("agent", agent.agent)
        g.output("agent_activity", playout.activity)
        g.output("false_interruptions", control.false_interruptions)
        g.output("history", history)
        g.output("playback", playout.playback)
        g.output("replies", reply.replies)
        g.output("tool_rounds", spoken.tools)
        g.output("transcription", playout.transcription)
        g.output("user_states", user)
        g.output("user_transcripts", transcripts)
        g.output("vad_events", vad_events)
        g.output("truncations", truncations)
    return g
