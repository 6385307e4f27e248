"""Turn-taking invariants over generated conversations, run by ``simulate`` in virtual time.

Hypothesis writes the conversations: utterances and noise bursts with pauses between them (some
shorter than the VAD's silence, so they merge; some during the agent's reply, so they barge in),
provider latencies, and the session's endpointing, preemption and output options. Whatever the
conversation, the session must keep the rules of issue 3:

- no agent audio after an accepted interruption, beyond one frame;
- at most one reply per committed turn;
- no turn commits earlier than ``min_endpointing_delay`` after the user stopped;
- the agent is never "speaking" while no audio plays;
- the history's assistant text is what was played;
- the session always returns to listening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowagents.runtime import run_virtual
from flowagents.testing import Script, SimulationResult, normalize_text, simulate
from flowagents.voice import Agent

EPS = 1e-6
FRAME = 0.02  # the fake TTS's frame: "one frame" of tolerance
REPLY = "Sure, I can help. Here is the answer you asked for."


@dataclass(frozen=True)
class Conversation:
    script: Script
    options: dict[str, Any]
    pausable: bool

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        speech = [(s.start, s.end, s.transcript) for s in self.script.speech]
        return f"Conversation(speech={speech}, options={self.options}, pausable={self.pausable})"


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    script = Script()
    t = draw(st.floats(0.2, 1.0))
    for i in range(draw(st.integers(1, 4))):
        length = draw(st.floats(0.1, 2.5))
        noise = draw(st.booleans()) and draw(st.booleans())  # a quarter are noise
        words = draw(st.integers(1, 5))
        transcript = "" if noise else " ".join(f"w{i}{k}" for k in range(words))
        script.user_speech(start=round(t, 2), end=round(t + length, 2), transcript=transcript,
                           stt_delay=draw(st.sampled_from([0.0, 0.1, 0.2, 0.5])))
        t += length + draw(st.floats(0.1, 4.0))  # pauses: merge, barge in, or wait for the reply
    ttft = draw(st.sampled_from([0.0, 0.1, 0.5]))
    script.llm_reply(input=None, content=REPLY, ttft=ttft,
                     duration=ttft + draw(st.sampled_from([0.0, 0.2, 0.8])))
    ttfb = draw(st.sampled_from([0.0, 0.1, 0.3]))
    script.tts_audio(input=REPLY, audio_duration=draw(st.sampled_from([0.5, 1.5, 3.0])),
                     ttfb=ttfb, duration=ttfb + draw(st.sampled_from([0.0, 0.2])))
    options = {
        "min_endpointing_delay": draw(st.sampled_from([0.0, 0.2, 0.5])),
        "preemptive_generation": draw(st.booleans()),
        "min_interruption_words": draw(st.sampled_from([0, 0, 2])),
        "user_away_timeout": None,
    }
    return Conversation(script, options, draw(st.booleans()))


def run(conv: Conversation) -> SimulationResult:
    return run_virtual(simulate(conv.script, agent=Agent(instructions="Be helpful."),
                                options=conv.options, pausable_output=conv.pausable))


def check_invariants(conv: Conversation, r: SimulationResult) -> None:
    assert r.output is not None
    frames = [c.time for c in r.output.frames]

    # No agent audio after an accepted interruption beyond one frame; more generally, every
    # frame played belongs to a playback (an interrupted playback ends where it was cut).
    for t in frames:
        assert any(p.start - EPS <= t <= p.end + FRAME + EPS for p in r.playbacks), t

    # At most one reply per committed turn (no tools here: one assistant message per reply).
    roles = [role for role, _, _ in r.messages()]
    for a, b in zip(roles, roles[1:], strict=False):
        assert (a, b) != ("assistant", "assistant"), roles

    # No commit earlier than the minimum endpointing delay after the user stopped.
    stops = [t for t, s in r.user_states if s == "listening"]
    min_delay = conv.options["min_endpointing_delay"]
    for item in r.history.items:
        if item.type == "message" and item.role == "user":
            before = [t for t in stops if t <= item.created_at + EPS]
            assert before, "a turn committed before the user stopped speaking"
            assert item.created_at >= before[-1] + min_delay - EPS

    # Never "speaking" while no audio plays: audio starts with the state, without gaps.
    states = r.agent_states
    for (t, state), (t_next, _) in zip(states, [*states[1:], (float("inf"), "")], strict=True):
        if state != "speaking":
            continue
        inside = [f for f in frames if t - EPS <= f < t_next - EPS]
        assert inside, f"speaking at {t} with no audio"
        assert abs(inside[0] - t) <= EPS
        assert all(b - a <= FRAME + EPS for a, b in zip(inside, inside[1:], strict=False))

    # The history's assistant text is what was played.
    played: dict[str, str] = {}
    for p in r.playbacks:
        played[p.speech_id] = played.get(p.speech_id, "") + " " + p.text
    said = [normalize_text(text) for role, text, _ in r.messages() if role == "assistant"]
    assert said == [normalize_text(t) for t in played.values() if normalize_text(t)]

    # The session always returns to listening.
    assert states[-1][1] == "listening"
    assert not r.user_states or r.user_states[-1][1] == "listening"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations())
def test_turn_taking_invariants(conv: Conversation) -> None:
    check_invariants(conv, run(conv))
