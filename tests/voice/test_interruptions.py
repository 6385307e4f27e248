"""Scenarios: barge-ins, false interruptions, interruption options, and ``interrupt()``.

Common script: the user asks for a story (0.5-2.5 s); the agent answers with three sentences
("Once upon a time there was a fox." 2.91 s, "It lived in a big forest." 2.21 s, "The end."
0.71 s of audio) from 3.25 s. Then the user speaks again from 5.0 to 6.0 s: VAD start at 5.05
(dated 5.0), so the speech is long enough to interrupt at 5.0 + 0.5 = 5.5; interim 6.1, final
6.2, VAD end 6.55 (dated 6.0).
"""

from __future__ import annotations

from flowagents.testing import Script

from .conftest import approx, run, states, timeline

ASK = "Tell me a story."
STORY = "Once upon a time there was a fox. It lived in a big forest. The end."


def story(second: str, *, start: float = 5.0, end: float = 6.0) -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=ASK)
    s.llm_reply(input=ASK, content=STORY)
    s.tts_audio(input=STORY, audio_duration=6.0)
    s.user_speech(start=start, end=end, transcript=second)
    s.llm_reply(input="Stop please.", content="Okay.")
    s.llm_reply(input="Stop talking please.", content="Okay.")
    s.tts_audio(input="Okay.", audio_duration=0.5)
    return s


def test_interruption_with_a_pausable_output_pauses_then_stops_on_words() -> None:
    r = run(story("Stop please."), pausable_output=True)
    assert states(r.agent_states) == [
        (0.0, "initializing"), (0.0, "listening"), (3.05, "thinking"), (3.25, "speaking"),
        (5.5, "listening"),  # paused at the barge-in, 0.5 s into the user's speech
        (6.55, "thinking"), (6.75, "speaking"), (7.25, "listening")]
    assert r.output is not None
    assert r.output.clears == [approx(5.5), approx(6.2)]  # pause, then for good at the final
    first, second = r.playbacks
    assert (first.start, first.end, first.position, first.interrupted) == (
        approx(3.25), approx(6.2), approx(2.25), True)
    # 2.25 s of the 2.91 s first sentence: the words whose end is within 77 % of its text
    assert first.text == "Once upon a time there"
    assert r.messages() == [
        ("user", ASK, False), ("assistant", "Once upon a time there", True),
        ("user", "Stop please.", False), ("assistant", "Okay.", False)]
    assert (second.start, second.end) == (approx(6.75), approx(7.25))
    assert not r.of_type("agent_false_interruption")


def test_interruption_with_an_output_that_cannot_pause_stops_at_once() -> None:
    r = run(story("Stop please."), pausable_output=False)
    assert r.output is not None
    assert r.output.clears == [approx(5.5)]
    first = r.playbacks[0]
    assert (first.end, first.position, first.interrupted) == (approx(5.5), approx(2.25), True)
    # no agent audio after the interruption, until the next reply
    assert [f.time for f in r.output.frames if 5.5 <= f.time < 6.75] == []
    assert r.messages()[1] == ("assistant", "Once upon a time there", True)
    assert states(r.agent_states)[4:] == [(5.5, "listening"), (6.55, "thinking"),
                                          (6.75, "speaking"), (7.25, "listening")]


def test_false_interruption_resumes_after_the_timeout() -> None:
    r = run(story(""), pausable_output=True)  # noise: VAD speech, no words
    assert r.output is not None
    audio = r.output.audio_duration  # 5.82 s in 20 ms frames, the frame cut at 5.5 included
    assert audio == approx(5.8235)
    assert states(r.agent_states) == [
        (0.0, "initializing"), (0.0, "listening"), (3.05, "thinking"), (3.25, "speaking"),
        (5.5, "listening"), (8.55, "speaking"), (approx(8.55 + audio - 2.26), "listening")]
    # resumed 2.0 s after the VAD reported the end of the noise (6.55)
    (resumed,) = r.of_type("agent_false_interruption")
    assert (resumed.time, resumed.event.resumed) == (approx(8.55), True)
    (playback,) = r.playbacks
    assert playback.interrupted is False
    assert playback.position == approx(audio - 0.01)  # the rest of the cut frame is lost
    assert r.messages() == [("user", ASK, False), ("assistant", STORY, False)]
    gaps = [(a.time, b.time) for a, b in zip(r.output.frames, r.output.frames[1:], strict=False)
            if abs(b.time - a.time - a.frame.duration) > 1e-9]
    assert gaps == [(approx(5.49), approx(8.55))]


def test_noise_with_an_output_that_cannot_pause_interrupts_for_good() -> None:
    r = run(story(""), pausable_output=False)
    assert r.playbacks[0].interrupted
    assert r.messages() == [("user", ASK, False), ("assistant", "Once upon a time there", True)]
    # LiveKit's rule: no words within the timeout after the noise ended (VAD end 6.55), and the
    # speech could not be resumed: agent_false_interruption(resumed=False) when the timer fires
    assert [(e.time, e.event.resumed) for e in r.of_type("agent_false_interruption")] == [
        (approx(8.55), False)]
    assert states(r.agent_states)[-1] == (5.5, "listening")


def test_paused_reply_interrupted_meanwhile_reports_a_false_interruption_not_resumed() -> None:
    # paused at 5.5 by noise; the app interrupts the paused reply at 7.0; the timer (6.55 + 2.0)
    # finds nothing to resume
    r = run(story(""), pausable_output=True,
            actions={7.0: lambda session: session.interrupt()})
    assert [(e.time, e.event.resumed) for e in r.of_type("agent_false_interruption")] == [
        (approx(8.55), False)]
    (playback,) = r.playbacks
    assert (playback.end, playback.interrupted) == (approx(7.0), True)
    assert "speaking" not in [s for t, s in r.agent_states if t > 5.5]


def test_false_interruption_is_not_reported_once_another_reply_is_in_flight() -> None:
    s = story("")
    s.llm_reply(input="Go on.", content="Going on.")
    s.tts_audio(input="Going on.", audio_duration=3.0)
    # interrupted at once (5.5); at 7.0 the app asks for a reply that is still playing at 8.55
    r = run(s, pausable_output=False,
            actions={7.0: lambda session: session.generate_reply(user_input="Go on.")})
    assert not r.of_type("agent_false_interruption")
    assert r.playbacks[1].start == approx(7.5)


def test_min_interruption_words_ignores_short_speech_and_its_turn() -> None:
    r = run(story("Yes."), options={"min_interruption_words": 2})
    (playback,) = r.playbacks
    assert (playback.interrupted, playback.end) == (False, approx(3.25 + 5.8235))
    assert r.messages() == [("user", ASK, False), ("assistant", STORY, False)]
    assert r.output is not None
    assert r.output.clears == []


def test_min_interruption_words_interrupts_once_enough_words_are_heard() -> None:
    r = run(story("Stop talking please."), options={"min_interruption_words": 2})
    # the interim "Stop talking" (2 words) at 6.1 pauses; the final at 6.2 stops for good
    assert r.output is not None
    assert r.output.clears == [approx(6.1), approx(6.2)]
    assert r.playbacks[0].position == approx(6.1 - 3.25)
    assert [m[0:2] for m in r.messages()][2:] == [("user", "Stop talking please."),
                                                  ("assistant", "Okay.")]


def test_interruptions_disabled_hear_nothing_during_the_reply() -> None:
    r = run(story("Stop please."), options={"allow_interruptions": False})
    (playback,) = r.playbacks
    assert (playback.interrupted, playback.end) == (False, approx(3.25 + 5.8235))
    assert r.messages() == [("user", ASK, False), ("assistant", STORY, False)]
    assert r.llm is not None
    assert [c.input for c in r.llm.calls] == [ASK]  # STT heard nothing: no reply was prepared
    assert not [e for e in r.of_type("user_input_transcribed") if e.time > 3.25]


def test_interrupt_then_generate_reply_from_text() -> None:
    s = story("")
    s.speech.pop()  # no second utterance: the app interrupts instead
    s.llm_reply(input="What time is it?", content="It is noon.")
    s.tts_audio(input="It is noon.", audio_duration=1.0)

    def act(session: object) -> None:
        session.interrupt()  # type: ignore[attr-defined]
        session.generate_reply(user_input="What time is it?")  # type: ignore[attr-defined]

    r = run(s, actions={5.0: act})
    assert r.messages() == [
        ("user", ASK, False), ("assistant", "Once upon a time", True),
        ("user", "What time is it?", False), ("assistant", "It is noon.", False)]
    first, second = r.playbacks
    assert (first.end, first.interrupted) == (approx(5.0), True)
    # LLM 5.0-5.3, TTS from 5.3: first audio 5.5, 1.0 s
    assert (second.start, second.end) == (approx(5.5), approx(6.5))
    assert states(r.agent_states)[4:] == [(5.0, "listening"), (5.0, "thinking"),
                                          (5.5, "speaking"), (6.5, "listening")]


def test_barge_in_while_thinking_drops_the_reply() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=ASK)
    s.llm_reply(input=ASK, content=STORY, ttft=2.0, duration=3.0)
    s.user_speech(start=4.0, end=5.0, transcript="Actually, never mind.")
    s.llm_reply(input="Actually, never mind.", content="Sure.")
    s.tts_audio(input="Sure.", audio_duration=0.5)
    r = run(s)
    # the reply is still thinking (LLM until 5.7) when the user has spoken 0.5 s (4.5)
    assert states(r.agent_states) == [
        (0.0, "initializing"), (0.0, "listening"), (3.05, "thinking"), (4.5, "listening"),
        (5.55, "thinking"), (5.75, "speaking"), (6.25, "listening")]
    assert r.messages() == [("user", ASK, False), ("user", "Actually, never mind.", False),
                            ("assistant", "Sure.", False)]
    assert len(r.playbacks) == 1
    assert r.tts is not None
    assert [c.text for c in r.tts.calls] == ["Sure."]  # no audio was made for the dropped reply
    llm_calls = r.llm.calls if r.llm is not None else []
    assert llm_calls[0].closed_at == approx(4.5)  # the LLM stream was cancelled at the barge-in
    assert timeline(r, "speech_created") == [(3.05, "speech_created"), (5.55, "speech_created")]
