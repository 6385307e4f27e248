"""The voice graph: how a voice agent listens, decides to answer, answers and gets interrupted.

Every turn-taking rule is one node of :func:`voice_graph`, and every decision travels on an edge:
the picture of this function (``flowagents graph render graphs.voice:voice_graph -o voice.png``,
shown and walked through in ``docs/architecture.md``) is the architecture diagram. Each node's
module docstring says its rule; the edge labels say what flows (speech started, final
transcript, turn committed, ...). Thresholds come from the ``active_agent`` node (the session's
options overridden by the agent in charge) on the ``turn`` and ``endpointing`` ports.

The session (:class:`~flowagents.session.AgentSession`) only pushes the inputs in (``audio``,
``requests``: say / generate_reply, ``text``: typed user turns, ``interrupts``:
``session.interrupt()``, ``agents``: the agent it starts or switches to, ``messages``: items it
adds itself) and turns the outputs (:data:`OUTPUTS`) into events, history and audio.
"""

from __future__ import annotations

from functools import lru_cache

from flowagents.graph import Graph
from flowagents.llm import ChatItem
from flowagents.stt import STT
from flowagents.types import AudioFrame
from flowagents.vad import VAD
from flowagents.voice.agent import Agent
from flowagents.voice.options import SessionOptions
from flowagents.voice.signals import AgentActivity, PlayoutControl
from flowagents.voice.speech import Speech
from flowagents.voice.turn_detector import TurnDetector
from flowagents.voice.turns import UserTurn
from nodes.audio.deaf_gate import DeafGate
from nodes.audio.gate import Gate
from nodes.audio.not_listening import NotListening
from nodes.audio.stt import STTNode
from nodes.audio.vad import VADNode
from nodes.reply.history import ChatHistory
from nodes.reply.llm_reply import LLMReply
from nodes.reply.playout import Playout
from nodes.reply.tts import TTSNode
from nodes.reply.turn_reply import TurnReply
from nodes.turn.active_agent import ActiveAgentNode
from nodes.turn.endpointing import Endpointing
from nodes.turn.false_interruption import FalseInterruption
from nodes.turn.interruption import Interruption
from nodes.turn.stt_endpoints import STTEndpoints
from nodes.turn.turn_detector import TurnDetectorNode
from nodes.turn.turn_filter import TurnFilter
from nodes.turn.user_state import UserStateNode

__all__ = ["INPUTS", "OUTPUTS", "shared_voice_graph", "voice_graph"]

INPUTS = ("audio", "requests", "text", "interrupts", "agents", "messages")
"""The inputs the session feeds (a custom graph must take the same)."""

OUTPUTS = ("audio_out", "agent", "agent_activity", "false_interruptions", "history",
           "playback", "replies", "tool_rounds", "transcription", "user_states",
           "user_transcripts", "vad_events")
"""The outputs a voice graph gives the session (a custom graph must provide the same). The
voice graph also gives ``llm_requests`` and ``tts_requests`` (each provider attempt of a reply:
what a session recording keeps); a graph without them records no requests."""


def voice_graph(*, vad: VAD | None = None, stt: STT | None = None,
                options: SessionOptions | None = None, can_pause: bool = True,
                turn_detection: TurnDetector | None = None, attach_video: bool = False,
                listen: bool = True, turn_mode: str | None = None) -> Graph:
    """The voice pipeline for one session. ``vad``/``stt`` default to the job's ``vad`` and
    ``stt`` resources (the session supplies them), so ``voice_graph()`` alone renders and loads
    from a spec. ``turn_detection``: the session's turn detector (an active agent's own
    ``turn_detection`` replaces it while that agent is in charge). ``attach_video``: each user
    message carries the camera's newest frame. ``listen=False`` (a session without STT): no VAD
    and no STT, the user's turns come from text only. ``turn_mode`` (LiveKit's
    ``turn_detection`` strings): ``"stt"`` ends turns on the STT's end of speech instead of the
    VAD's, ``"manual"`` commits none (the session's ``commit_user_turn()`` does); ``"vad"`` or
    None: the VAD's."""
    o = options or SessionOptions()
    with Graph("voice") as g:
        audio = g.input("audio", AudioFrame)
        requests = g.input("requests", Speech)
        text = g.input("text", UserTurn)
        interrupts = g.input("interrupts", PlayoutControl)
        agents = g.input("agents", Agent)
        messages = g.input("messages", ChatItem)
        activity = g.feedback("agent_activity", AgentActivity)
        committed = g.feedback("committed_turns", UserTurn)
        handoffs = g.feedback("handoffs", Agent)
        agent = ActiveAgentNode(turn_detection, defaults=o)(agents, handoffs)

        if listen:
            vad_events = VADNode(vad)(audio, activity)
            user_audio = Gate(pre_roll=o.pre_roll)(audio, vad_events)
            heard = DeafGate(
                discard_audio_if_uninterruptible=o.discard_audio_if_uninterruptible)(
                user_audio, activity)
            transcripts = STTNode(stt, speculative_delay=o.speculative_stt_delay,
                                  preflight=o.preemptive_generation)(
                heard, agent.agent, vad_events)
        else:  # no STT: text turns only (LiveKit's behaviour)
            deaf = NotListening()(audio)
            vad_events, transcripts = deaf.vad_events, deaf.transcripts
        eou = TurnDetectorNode(turn_detection)(transcripts, vad_events, agent.agent, committed)
        if turn_mode == "manual":  # turns only from session.commit_user_turn()
            silent = NotListening(name="manual_turns")(audio)
            endpointed = Endpointing()(silent.vad_events, silent.transcripts, eou,
                                       agent.endpointing)
        elif turn_mode == "stt":  # the STT's end of speech ends the turn
            bounds = STTEndpoints()(transcripts)
            endpointed = Endpointing()(bounds, transcripts, eou, agent.endpointing)
        else:
            endpointed = Endpointing()(vad_events, transcripts, eou, agent.endpointing)
        committed.bind(endpointed)
        turns = TurnFilter()(endpointed, activity, agent.turn, text)
        barge_in = Interruption()(vad_events, transcripts, activity, agent.turn, turns)
        control = FalseInterruption(
            can_pause=can_pause, resume_false_interruption=o.resume_false_interruption)(
            barge_in, vad_events, transcripts, activity, agent.turn, turns)
        reply = TurnReply(preemptive_generation=o.preemptive_generation,
                          attach_video=attach_video)(
            turns, transcripts, vad_events, requests, agent.agent)
        llm = LLMReply(max_tool_steps=o.max_tool_steps,
                       conn_options=o.conn_options.llm_conn_options)(reply.speeches)
        handoffs.bind(llm.handoff)
        tts = TTSNode(preemptive_tts=o.preemptive_tts,
                      conn_options=o.conn_options.tts_conn_options)(llm.speeches)
        playout = Playout()(tts.speeches, control.control, reply.control, interrupts)
        activity.bind(playout.activity)
        history = ChatHistory()(agent.agent, reply.user, messages, playout.playback, llm.tools,
                                agent["items"])
        user = UserStateNode(user_away_timeout=o.user_away_timeout)(vad_events, activity)

        g.output("audio_out", playout.audio)
        g.output("agent", agent.agent)
        g.output("agent_activity", playout.activity)
        g.output("false_interruptions", control.false_interruptions)
        g.output("history", history)
        g.output("llm_requests", llm.requests)
        g.output("tts_requests", tts.requests)
        g.output("playback", playout.playback)
        g.output("replies", reply.replies)
        g.output("tool_rounds", llm.tools)
        g.output("transcription", playout.transcription)
        g.output("user_states", user)
        g.output("user_transcripts", transcripts)
        g.output("vad_events", vad_events)
    return g


@lru_cache(maxsize=16)
def shared_voice_graph(options: SessionOptions, can_pause: bool = True,
                       turn_detection: TurnDetector | None = None, attach_video: bool = False,
                       listen: bool = True, turn_mode: str | None = None) -> Graph:
    """One :func:`voice_graph` per configuration, shared by the sessions that use it. A graph
    is a description: each session's runtime builds its own streams from it, and its VAD and
    STT come from the session's resources. Sharing it spares each session the graph's several
    hundred long-lived objects (nodes, ports, edges, configs), which every full garbage
    collection would otherwise traverse once per session."""
    return voice_graph(options=options, can_pause=can_pause, turn_detection=turn_detection,
                       attach_video=attach_video, listen=listen, turn_mode=turn_mode)
