"""The voice graph: how a voice agent listens, decides to answer, answers and gets interrupted.

Architecture (the SVG of :func:`voice_graph` is this picture; every turn-taking rule is one node)::

    active_agent (agent, turn options) ──> stt, turn_detector, endpointing, turn_filter,
                                           interruption, false_interruption
    audio ─> vad ────────────────────────────────────┬─> user_state (away timer)
      │     └─── segments (batch STT) ─────────┐      │
      └─> gate(vad, pre-roll) ─> deaf_gate ─> stt ────┤
                                                       ├─> turn_detector ─> endpointing ─┐
                                                       │      ^══ committed ═════════════┤
                                                       │                   turn_filter <─┘
                                                       ├─> interruption (barge-in)     │
                                                       │     └─> false_interruption    │
                                                       │         (pause/resume/stop)   │
    requests (say, generate_reply, text turns) ────────┴─> turn_reply <────────────────┘
          turn_reply ─> llm_reply (tool loop) ─> tts (sentences) ─> playout ─> audio_out
                                          false_interruption ──────────┘   │
          agent_activity  <═══════════ feedback ════════════════════════════┘
          (to deaf_gate, turn_filter, interruption, false_interruption, user_state)

* The input side is pure stream logic: the VAD gates STT (pre-roll 0.5 s) and also delimits
  the segments a batch STT (Whisper) recognizes: on the VAD's end of speech the STT node calls
  ``recognize`` once on the segment's gated audio, so there is no second VAD (a streaming STT
  ignores that edge); with ``speculative_stt_delay`` (0.2 s) of silence it starts that call
  during the VAD's silence wait and keeps its result unless the user speaks again;
  endpointing debounces the end of speech into one ``UserTurn``
  (``deaf_gate`` keeps STT deaf during a speech that disallows interruptions)
  (``min/max_endpointing_delay``, optional turn-detector probability); ``turn_filter`` drops
  turns a deaf (``allow_interruptions=False``) speech must not hear and short turns under
  ``min_interruption_words``; ``interruption`` decides barge-ins
  (``min_interruption_duration``/``min_interruption_words``, a final transcript) and
  ``false_interruption`` turns them into pause / resume / interrupt orders for playout (and
  reports timed-out barge-ins that could not resume). Every rule reads the active agent's turn
  options (``Agent(min_endpointing_delay=...)`` overrides) from ``active_agent`` as they change.
* The reply side carries :class:`~flowagents.voice.speech.Speech` values: ``turn_reply`` maps each
  committed turn to one speech by switch-latest (the session records the user message and runs
  ``on_user_turn_completed``; preemptive generation starts a speech on the final transcript and
  keeps it only if the turn is unchanged) and merges the session's ``say``/``generate_reply``
  requests; ``llm_reply`` attaches the text stream (the tool loop); ``tts`` attaches the audio
  stream (sentence by sentence). These per-speech streams are cold: nothing runs until playout
  subscribes, and disposing that subscription (an interruption) cancels TTS and LLM.
* ``playout`` queues speeches, paces frames on absolute deadlines, owns the agent state
  (thinking / speaking / listening), obeys the control orders, syncs the agent transcription to
  the audio and reports the text played per step. Its ``activity`` goes back upstream through
  a feedback edge.
* The session (:class:`~flowagents.voice.AgentSession`) pushes audio and requests in, and turns the
  outputs into events, history and audio output calls; the agent's hooks and overridable stages
  are called by ``turn_reply``, ``llm_reply`` and ``tts`` through the session.
"""

from __future__ import annotations

from flowagents.graph import Graph
from flowagents.stt import STT
from flowagents.types import AudioFrame
from flowagents.vad import VAD
from flowagents.voice.options import SessionOptions
from flowagents.voice.signals import AgentActivity
from flowagents.voice.speech import Speech
from flowagents.voice.turn_detector import TurnDetector
from flowagents.voice.turns import UserTurn
from nodes.audio.deaf_gate import DeafGate
from nodes.audio.gate import Gate
from nodes.audio.stt import STTNode
from nodes.audio.vad import VADNode
from nodes.reply.llm_reply import LLMReply
from nodes.reply.playout import Playout
from nodes.reply.tts import TTSNode
from nodes.reply.turn_reply import TurnReply
from nodes.turn.active_agent import ActiveAgentNode
from nodes.turn.endpointing import Endpointing
from nodes.turn.false_interruption import FalseInterruption
from nodes.turn.interruption import Interruption
from nodes.turn.turn_detector import TurnDetectorNode
from nodes.turn.turn_filter import TurnFilter
from nodes.turn.user_state import UserStateNode

__all__ = ["OUTPUTS", "voice_graph"]

OUTPUTS = ("audio_out", "agent_activity", "false_interruptions", "playback", "transcription",
           "user_states", "user_transcripts", "vad_events")
"""The outputs a voice graph gives the session (a custom graph must provide the same)."""


def voice_graph(*, vad: VAD | None = None, stt: STT | None = None,
                options: SessionOptions | None = None,
                can_pause: bool = True, turn_detection: TurnDetector | None = None) -> Graph:
    """The voice pipeline for one session. ``vad``/``stt`` default to the job's ``vad`` and
    ``stt`` resources (the session supplies them), so ``voice_graph()`` alone renders and loads
    from a spec. ``turn_detection``: the session's turn detector
    (an active agent's own ``turn_detection`` replaces it while that agent is in charge)."""
    o = options or SessionOptions()
    with Graph("voice") as g:
        audio = g.input("audio", AudioFrame)
        requests = g.input("requests", Speech)
        activity = g.feedback("agent_activity", AgentActivity)
        committed = g.feedback("committed_turns", UserTurn)
        agent = ActiveAgentNode()()

        vad_events = VADNode(vad)(audio)
        user_audio = Gate(pre_roll=o.pre_roll)(audio, vad_events)
        heard = DeafGate(discard_audio_if_uninterruptible=o.discard_audio_if_uninterruptible)(
            user_audio, activity)
        transcripts = STTNode(stt, speculative_delay=o.speculative_stt_delay)(
            heard, agent.agent, vad_events)
        eou = TurnDetectorNode(turn_detection)(transcripts, vad_events, agent.turn, committed)
        endpointed = Endpointing(min_delay=o.min_endpointing_delay,
                                 max_delay=o.max_endpointing_delay)(
            vad_events, transcripts, eou, agent.endpointing)
        committed.bind(endpointed)
        turns = TurnFilter(min_interruption_words=o.min_interruption_words)(
            endpointed, activity, agent.turn)
        barge_in = Interruption(min_interruption_duration=o.min_interruption_duration,
                                min_interruption_words=o.min_interruption_words)(
            vad_events, transcripts, activity, agent.turn)
        control = FalseInterruption(
            can_pause=can_pause, resume_false_interruption=o.resume_false_interruption,
            false_interruption_timeout=o.false_interruption_timeout,
            min_interruption_words=o.min_interruption_words)(
            barge_in, vad_events, transcripts, activity, agent.turn)
        speeches = TurnReply(preemptive_generation=o.preemptive_generation)(
            turns, transcripts, vad_events, requests)
        speeches = LLMReply(max_tool_steps=o.max_tool_steps)(speeches)
        speeches = TTSNode(preemptive_tts=o.preemptive_tts)(speeches)
        playout = Playout()(speeches, control.control)
        activity.bind(playout.activity)
        user = UserStateNode(user_away_timeout=o.user_away_timeout)(vad_events, activity)

        g.output("audio_out", playout.audio)
        g.output("agent_activity", playout.activity)
        g.output("false_interruptions", control.false_interruptions)
        g.output("playback", playout.playback)
        g.output("transcription", playout.transcription)
        g.output("user_states", user)
        g.output("user_transcripts", transcripts)
        g.output("vad_events", vad_events)
    return g
