"""Scenarios for the decisions that moved from the session into the voice graph, and for four
LiveKit behaviours: typed turns, explicit interrupts, the pending turn of
``min_interruption_words`` and the false-interruption watch ended by a committed turn (the
order of same-instant transcripts is in ``tests/testing/test_fakes.py``).

Common script (as in ``test_interruptions``): the user asks for a story (0.5-2.5 s), the agent
tells it from 3.25 s (6 s of audio, three sentences).
"""

from __future__ import annotations

import asyncio

from flowagents.llm import ChatContext, ChatMessage
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import Script
from flowagents.voice import Agent

from .conftest import approx, run, states

ASK = "Tell me a story."
STORY = "Once upon a time there was a fox. It lived in a big forest. The end."


def story() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=ASK)
    s.llm_reply(input=ASK, content=STORY)
    s.tts_audio(input=STORY, audio_duration=6.0)
    return s


class SlowHook(Agent):
    """``on_user_turn_completed`` takes 3 s."""

    def __init__(self) -> None:
        super().__init__(instructions="x")

    async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                     new_message: ChatMessage) -> None:
        if new_message.text_content != ASK:
            await asyncio.sleep(3.0)


# -- min_interruption_words counts the whole pending turn ------------------------------------

def test_a_short_utterance_stays_in_the_turn_and_the_next_one_adds_to_it() -> None:
    s = story()
    # "Wait." (1 word) cannot interrupt with min_interruption_words=3; its turn (VAD end 6.15)
    # is held, not thrown away
    s.user_speech(start=5.0, end=5.6, transcript="Wait.")
    # "Stop it now.": interim "Stop it" at 8.1 makes 1 + 2 = 3 words: barge-in (pause); the
    # final at 8.2 makes it real; the turn commits at 8.55 (VAD end, dated 8.0, + 0.5)
    s.user_speech(start=7.0, end=8.0, transcript="Stop it now.")
    s.llm_reply(input="Wait. Stop it now.", content="Okay.")
    s.tts_audio(input="Okay.", audio_duration=0.5)
    r = run(s, options={"min_interruption_words": 3})
    assert r.output is not None
    assert r.output.clears == [approx(8.1), approx(8.2)]
    first, second = r.playbacks
    assert (first.end, first.interrupted) == (approx(8.2), True)
    assert r.messages()[2:] == [("user", "Wait. Stop it now.", False),
                                ("assistant", "Okay.", False)]
    # the reply was prepared on both utterances (preemptively, on the final at 8.2) and kept
    assert r.llm is not None
    assert [(c.time, c.input) for c in r.llm.calls][-1] == (approx(8.2), "Wait. Stop it now.")
    assert (second.start, second.end) == (approx(8.75), approx(9.25))


# -- a committed turn ends the false-interruption watch --------------------------------------

def test_no_false_interruption_after_the_turn_was_committed_for_a_reply() -> None:
    s = story()
    s.user_speech(start=5.0, end=6.0, transcript="")  # a cough: barge-in 5.5, paused
    s.llm_reply(input="Go on.", content="Going on.")
    s.tts_audio(input="Going on.", audio_duration=1.0)
    # typed at 7.0 while paused: a turn for a reply; its hook runs until 10.0, so no speech is
    # in flight when the watch's timer (VAD end 6.55 + 2.0 = 8.55) would have fired; then LLM
    # 10.0-10.3, TTS -> 10.5
    r = run(s, agent=SlowHook(), actions={7.0: lambda session: session.push_text("Go on.")})
    assert not r.of_type("agent_false_interruption")
    first, second = r.playbacks
    assert (first.end, first.interrupted) == (approx(7.0), True)
    assert states(r.agent_states)[3:] == [
        (3.25, "speaking"), (5.5, "listening"),  # paused
        (7.0, "thinking"),  # the typed turn supersedes the paused reply
        (10.5, "speaking"), (11.5, "listening")]
    assert (second.start, second.end) == (approx(10.5), approx(11.5))


def test_without_a_committed_turn_the_watch_still_reports() -> None:
    s = story()
    s.user_speech(start=5.0, end=6.0, transcript="")
    r = run(s, pausable_output=False)
    assert [(e.time, e.event.resumed) for e in r.of_type("agent_false_interruption")] == [
        (approx(8.55), False)]


# -- typed turns ------------------------------------------------------------------------------

def test_a_typed_turn_is_answered_after_an_uninterruptible_speech() -> None:
    s = Script()
    s.tts_audio(input="Please listen to this notice.", audio_duration=3.0)
    s.llm_reply(input="Hi.", content="Hello!")
    s.tts_audio(input="Hello!", audio_duration=1.0)
    r = run(s, actions={
        0.0: lambda session: session.say("Please listen to this notice.",
                                         allow_interruptions=False),
        1.0: lambda session: session.push_text("Hi.")})
    notice, reply = r.playbacks
    assert (notice.start, notice.end, notice.interrupted) == (approx(0.2), approx(3.2), False)
    # the reply waits its turn (its LLM starts when playout takes it: 3.2-3.5, TTS -> 3.7)
    assert (reply.start, reply.end) == (approx(3.7), approx(4.7))
    assert r.messages() == [("assistant", "Please listen to this notice.", False),
                            ("user", "Hi.", False), ("assistant", "Hello!", False)]


def test_a_short_typed_turn_is_answered_whatever_min_interruption_words() -> None:
    s = story()
    s.llm_reply(input="Stop.", content="Okay.")
    s.tts_audio(input="Okay.", audio_duration=0.5)
    r = run(s, options={"min_interruption_words": 3},
            actions={5.0: lambda session: session.push_text("Stop.")})
    first, second = r.playbacks
    assert (first.end, first.interrupted) == (approx(5.0), True)
    assert (second.start, second.end) == (approx(5.5), approx(6.0))
    assert r.messages()[2:] == [("user", "Stop.", False), ("assistant", "Okay.", False)]


# -- explicit interrupts ----------------------------------------------------------------------

def test_interrupt_stops_the_speech_in_flight_and_the_queued_ones_it_may() -> None:
    s = Script()
    s.tts_audio(input="One.", audio_duration=2.0)
    s.tts_audio(input="Two.", audio_duration=1.0)
    s.tts_audio(input="Three.", audio_duration=1.0)
    done: list[float] = []

    def act(session: object) -> None:
        future = session.interrupt()  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda _: done.append(loop.time()))

    r = run(s, actions={
        0.0: lambda session: (session.say("One."), session.say("Two."),
                              session.say("Three.", allow_interruptions=False)),
        1.0: act})
    one, three = r.playbacks
    assert (one.start, one.end, one.position, one.interrupted) == (
        approx(0.2), approx(1.0), approx(0.8), True)
    # "Two." never plays; "Three." may not be interrupted: it plays next (TTS from 1.0)
    assert (three.text, three.start, three.end, three.interrupted) == (
        "Three.", approx(1.2), approx(2.2), False)
    assert [m[1] for m in r.messages()] == ["Three."]
    assert done == [approx(1.0)]


# -- one graph per configuration --------------------------------------------------------------

def test_sessions_with_the_same_options_share_one_graph_and_still_hear_apart() -> None:
    from flowagents.testing import FakeLLM, FakeSTT, FakeTTS, FakeVAD, RecordingAudioOutput
    from flowagents.testing.fakes import FakeVADStream
    from flowagents.voice.io import SessionIO

    class CountingVAD(FakeVAD):
        opened = 0

        def stream(self) -> FakeVADStream:
            self.opened += 1
            return super().stream()

    async def start(**options: float) -> tuple[AgentSession, CountingVAD]:
        s = Script()
        vad = CountingVAD(s)
        session = AgentSession(vad=vad, stt=FakeSTT(s), llm=FakeLLM(s), tts=FakeTTS(s),
                               **options)
        await session.start(agent=Agent(instructions="x"),
                            io=SessionIO(audio_output=RecordingAudioOutput()))
        return session, vad

    async def main() -> None:
        (a, vad_a), (b, vad_b) = await start(min_endpointing_delay=0.3), await start(
            min_endpointing_delay=0.3)
        assert a.runtime.graph is b.runtime.graph
        # each runtime took its own session's VAD from its resources
        assert (vad_a.opened, vad_b.opened) == (1, 1)
        other, _ = await start(min_endpointing_delay=0.4)
        assert other.runtime.graph is not a.runtime.graph  # other options, another graph
        for session in (a, b, other):
            await session.aclose()

    run_virtual(main())
