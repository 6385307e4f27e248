"""Scenarios: the turn detector and per-agent turn options.

The user speaks 0.5-2.5 s: final transcript at 2.7, VAD end delivered at 3.05 (dated 2.5). With
``min_endpointing_delay=0.8`` a likely-complete turn commits at 2.5 + 0.8 = 3.3; an unlikely one
waits ``max_endpointing_delay`` (3.0 s): 5.5.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import pytest

from flowagents.llm import function_tool
from flowagents.metrics import EOUMetrics
from flowagents.runtime import run_virtual
from flowagents.testing import FakeToolCall, Script, ScriptedTurnDetector
from flowagents.types import AudioFrame, SpeechEvent, SpeechEventType
from flowagents.voice import Agent, ModelSettings
from flowagents.voice.options import SessionOptions, turn_options
from nodes.turn.turn_detector import HeuristicTurnDetector

from .conftest import approx, run, timeline

UNFINISHED = "I want to order a..."
DONE = "I want a pizza."


def one_turn(text: str) -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=text)
    s.llm_reply(input=text, content="Sure.")
    s.tts_audio(input="Sure.", audio_duration=0.5)
    return s


def commits(r: object) -> list[float]:
    return [round(m.timestamp, 6) for m in r.metrics  # type: ignore[attr-defined]
            if isinstance(m, EOUMetrics)]


def test_unfinished_sentence_waits_max_endpointing_delay() -> None:
    r = run(one_turn(UNFINISHED), options={"turn_detection": HeuristicTurnDetector(),
                                           "min_endpointing_delay": 0.8})
    assert commits(r) == [5.5]
    (eou,) = [m for m in r.metrics if isinstance(m, EOUMetrics)]
    assert eou.end_of_utterance_delay == approx(3.0)
    assert timeline(r, "speech_created") == [(5.5, "speech_created")]
    assert r.playbacks[0].start == approx(5.7)  # preemptive LLM done at 3.0; TTS 5.5 -> 5.7


def test_finished_sentence_commits_at_min_endpointing_delay() -> None:
    r = run(one_turn(DONE), options={"turn_detection": HeuristicTurnDetector(),
                                     "min_endpointing_delay": 0.8})
    assert commits(r) == [3.3]


def test_speech_resuming_cancels_the_long_wait() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=UNFINISHED)
    s.user_speech(start=4.0, end=5.0, transcript="a pizza.")
    whole = f"{UNFINISHED} a pizza."
    s.llm_reply(input=whole, content="Sure.")
    s.tts_audio(input="Sure.", audio_duration=0.5)
    detector = ScriptedTurnDetector({UNFINISHED: 0.1}, default=0.9, delay=0.05)
    r = run(s, options={"turn_detection": detector})
    # the commit due at 5.5 is cancelled by speech at 4.0; the whole turn is scored at 5.2
    # (ready 5.25) and commits when the VAD reports the end (5.55 >= 5.0 + 0.5)
    assert [(c.text, round(c.time, 6), c.probability) for c in detector.calls] == [
        (UNFINISHED, 2.7, 0.1), (whole, 5.2, 0.9)]
    assert commits(r) == [5.55]
    assert r.messages()[0] == ("user", whole, False)
    assert len(r.of_type("speech_created")) == 1


def test_the_detector_reads_the_agents_context() -> None:
    detector = ScriptedTurnDetector(default=0.9)
    seen: list[list[tuple[str, str]]] = []
    predict = detector.predict_end_of_turn

    async def spy(chat_ctx: object) -> float:
        seen.append([(i.role, i.text_content or "") for i in chat_ctx.items])  # type: ignore[attr-defined]
        return await predict(chat_ctx)  # type: ignore[arg-type]

    detector.predict_end_of_turn = spy  # type: ignore[method-assign]
    run(one_turn(DONE), agent=Agent(instructions="Take orders."),
        options={"turn_detection": detector})
    assert seen == [[("system", "Take orders."), ("user", DONE)]]


def test_heuristic_scores() -> None:
    from flowagents.llm import ChatContext

    def score(text: str) -> float:
        ctx = ChatContext.empty()
        ctx.add_message(role="user", content=text)
        return run_virtual(HeuristicTurnDetector().predict_end_of_turn(ctx))

    assert score(UNFINISHED) < 0.5
    assert score("I'd like a coffee and") < 0.5
    assert score("Well,") < 0.5
    assert score(DONE) > 0.5
    assert score("what time is it") > 0.5  # unpunctuated STT output does not hold the user
    # Whisper on a pause mid-phrase: the phrase punctuated as if whole
    assert score("What's the temperature in?") < 0.5
    assert score("Say hello in.") < 0.5
    assert score("What color is the sky on A?") < 0.5
    assert score("What is the weather in Tokyo?") > 0.5


def _score(detector: HeuristicTurnDetector, text: str, confidence: float | None) -> float:
    from flowagents.llm import ChatContext, ChatMessage

    ctx = ChatContext([ChatMessage(role="user", content=[text],
                                   transcript_confidence=confidence)])
    return run_virtual(detector.predict_end_of_turn(ctx))


def test_heuristic_doubts_a_finished_looking_transcript_with_a_low_confidence() -> None:
    doubting = HeuristicTurnDetector(min_confidence=0.5)
    unsure = HeuristicTurnDetector.UNSURE
    assert _score(doubting, "How many lands are there?", 0.3) == unsure
    assert _score(doubting, "Hey mate", 0.3) == unsure
    assert _score(doubting, "How many legs does a spider have?", 0.8) == 0.9
    assert _score(doubting, "How many lands are there?", None) == 0.9  # not reported
    assert _score(doubting, "What's the temperature in?", 0.3) == 0.15  # unfinished anyway
    assert _score(HeuristicTurnDetector(), "How many lands are there?", 0.3) == 0.9
    d = HeuristicTurnDetector
    assert d.unlikely_threshold < unsure < d.likely_threshold <= 0.6  # a wait halfway
    with pytest.raises(ValueError, match="min_confidence"):
        HeuristicTurnDetector(min_confidence=1.5)


def _hesitant(confidence: float) -> Script:
    # "How many legs does a ... spider have?": the first half heard as a finished question
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="How many lands are there?",
                  confidence=confidence)
    s.user_speech(start=3.2, end=4.2, transcript="spider have?")
    whole = "How many lands are there? spider have?"
    for text in ("How many lands are there?", whole):
        s.llm_reply(input=text, content="Eight.")
    s.tts_audio(input="Eight.", audio_duration=0.5)
    return s


def test_a_doubtful_finished_transcript_waits_halfway_and_a_hesitation_is_not_cut_off() -> None:
    options = {"turn_detection": HeuristicTurnDetector(min_confidence=0.5),
               "min_endpointing_delay": 0.3, "max_endpointing_delay": 1.5}
    # sure: the first half commits 0.3 s after 2.5 (at the VAD's end, 3.05), before the
    # user goes on at 3.2: the answer cuts them off
    sure = run(_hesitant(0.9), options=options)
    assert commits(sure)[0] == 3.05
    assert [m[1] for m in sure.messages() if m[0] == "user"][0] == "How many lands are there?"
    # unsure: the commit is due at 2.5 + 0.9 = 3.4 (halfway between 0.3 and 1.5 s); the user
    # goes on at 3.2 and the whole question is one turn, committed at the VAD's end (4.75)
    doubtful = run(_hesitant(0.3), options=options)
    assert [m for m in doubtful.messages() if m[0] == "user"] == [
        ("user", "How many lands are there? spider have?", False)]
    assert commits(doubtful) == [4.75]


def test_a_doubtful_finished_transcript_alone_commits_halfway() -> None:
    options = {"turn_detection": HeuristicTurnDetector(min_confidence=0.5),
               "min_endpointing_delay": 0.3, "max_endpointing_delay": 1.5}
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=DONE, confidence=0.3)
    s.llm_reply(input=DONE, content="Sure.")
    s.tts_audio(input="Sure.", audio_duration=0.5)
    assert commits(run(s, options=options)) == [3.4]  # 2.5 + 0.9, not 2.5 + 0.3 (VAD end 3.05)
    assert commits(run(one_turn(DONE), options=options)) == [3.05]


# -- per-agent turn options ---------------------------------------------------------------------


class Patient(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You wait.", min_endpointing_delay=1.5)


class Front(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You transfer.")

    @function_tool
    async def transfer(self) -> Agent:
        """Transfer the user."""
        return Patient()


def test_handoff_to_an_agent_with_a_longer_min_endpointing_delay_changes_commit_times() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Transfer me.")
    s.llm_reply(input="Transfer me.", tool_calls=[FakeToolCall("transfer", {})])
    s.user_speech(start=8.0, end=9.0, transcript="Hello?")
    s.llm_reply(input="Hello?", content="Yes?")
    s.tts_audio(input="Yes?", audio_duration=0.5)
    r = run(s, agent=Front())
    assert isinstance(r.session.current_agent, Patient)
    # the front agent's turn at the VAD end (3.05 >= 2.5 + 0.5); the patient's at 9.0 + 1.5,
    # not at the VAD end (9.55) as under the session's 0.5 s
    assert commits(r) == [3.05, 10.5]
    assert r.playbacks[-1].start == approx(10.7)


def test_agent_min_interruption_duration_overrides_the_sessions() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Tell me a story.")
    s.llm_reply(input="Tell me a story.", content="Once upon a time there was a fox.")
    s.tts_audio(input="Once upon a time there was a fox.", audio_duration=4.0)
    # 0.5 s of noise while the agent speaks (3.25-7.25): the VAD hears speech from 5.0 until it
    # reports the end at 6.05, long enough for the session's 0.5 s, not for the agent's 1.5 s
    s.user_speech(start=5.0, end=5.5)
    steady = run(s, agent=Agent(instructions="x", min_interruption_duration=1.5))
    (playback,) = steady.playbacks
    assert (playback.interrupted, playback.end) == (False, approx(7.25))
    assert not steady.of_type("agent_false_interruption")
    default = run(s)
    assert default.of_type("agent_false_interruption")[0].event.resumed  # paused at 5.5


def test_turn_options_resolution() -> None:
    session = SessionOptions(min_endpointing_delay=0.4, max_endpointing_delay=1.0)
    agent = Agent(instructions="x", min_endpointing_delay=2.0, false_interruption_timeout=None,
                  turn_detection=HeuristicTurnDetector())
    resolved = turn_options(session, agent)
    assert (resolved.min_endpointing_delay, resolved.max_endpointing_delay) == (2.0, 2.0)
    assert resolved.false_interruption_timeout is None
    assert isinstance(resolved.turn_detection, HeuristicTurnDetector)
    assert turn_options(session, Agent(instructions="x")).min_endpointing_delay == 0.4
    detector = HeuristicTurnDetector()
    assert turn_options(session, Agent(instructions="x", turn_detection=None),
                        detector).turn_detection is None
    assert turn_options(session, Agent(instructions="x"), detector).turn_detection is detector


# -- the STT stage ------------------------------------------------------------------------------


class Corrector(Agent):
    """Overrides the STT stage: the default recognition, with a word fixed (as plain text)."""

    def __init__(self) -> None:
        super().__init__(instructions="x")

    async def stt_node(self, audio: AsyncIterable[AudioFrame],  # type: ignore[override]
                       model_settings: ModelSettings) -> AsyncIterator[SpeechEvent | str]:
        async for event in super().stt_node(audio, model_settings):
            if isinstance(event, SpeechEvent) and event.type is SpeechEventType.FINAL_TRANSCRIPT:
                yield event.text.replace("piza", "pizza")
            else:
                yield event


def test_agent_stt_node_override() -> None:
    s = one_turn("One piza please.")
    s.llm_reply(input="One pizza please.", content="Coming.")
    s.tts_audio(input="Coming.", audio_duration=0.5)
    r = run(s, agent=Corrector())
    assert r.messages() == [("user", "One pizza please.", False),
                            ("assistant", "Coming.", False)]
    finals = [e.event.transcript for e in r.of_type("user_input_transcribed")
              if e.event.is_final]
    assert finals == ["One pizza please."]


class ToCorrector(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="x")

    @function_tool
    async def transfer(self) -> Agent:
        """Transfer."""
        return Corrector()


def test_handoff_switches_the_stt_stage() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="One piza please.")
    s.llm_reply(input="One piza please.", tool_calls=[FakeToolCall("transfer", {})])
    s.user_speech(start=6.0, end=7.0, transcript="Another piza.")
    s.llm_reply(input="Another pizza.", content="Sure.")
    s.tts_audio(input="Sure.", audio_duration=0.5)
    r = run(s, agent=ToCorrector())
    users = [m[1] for m in r.messages() if m[0] == "user"]
    assert users == ["One piza please.", "Another pizza."]
    assert r.messages()[-1] == ("assistant", "Sure.", False)


# -- the transcript-aware end of turn of the offline options ------------------------------------
# VAD silence 0.3 s, endpointing 0.3 s (1.5 s when the detector says "not done"), a batch STT
# recognizing after 0.1 s of silence (stt_delay 0.2: back 0.3 s after the last word, when the
# VAD ends), preemptive generation on its preflight transcript.

QUESTION = "What is the weather in Tokyo?"
HALF = "What's the temperature in"


def transcript_aware(script: Script) -> dict[str, object]:
    from flowagents.testing import FakeSTT

    return {"stt": FakeSTT(script, streaming=False), "speculative_stt_delay": 0.1,
            "min_silence_duration": 0.3, "min_endpointing_delay": 0.3,
            "max_endpointing_delay": 1.5, "turn_detection": HeuristicTurnDetector()}


def asked(*speech: tuple[float, float, str], answer_to: str) -> Script:
    s = Script()
    for start, end, text in speech:
        s.user_speech(start=start, end=end, transcript=text)
    s.llm_reply(input=answer_to, content="Sure.")
    s.tts_audio(input="Sure.", audio_duration=0.5)
    return s


def test_a_finished_question_ends_the_turn_at_the_short_delay() -> None:
    """Last word at 2.5: the VAD ends at 2.8 (0.3 s), the transcript is there (preflight and
    final), the detector says done (0.9): the turn commits at 2.8, 0.3 s after the last word."""
    s = asked((0.5, 2.5, QUESTION), answer_to=QUESTION)
    r = run(s, options=transcript_aware(s), vad_inference_interval=0.01)
    assert commits(r) == [2.8]
    assert r.messages() == [("user", QUESTION, False), ("assistant", "Sure.", False)]


def test_an_unfinished_phrase_waits_for_the_long_delay() -> None:
    """"What's the temperature in" and nothing more: 0.15, so the turn waits 1.5 s from the
    last word (2.5): it commits at 4.0, not at 2.8."""
    s = asked((0.5, 2.5, HALF), answer_to=HALF)
    r = run(s, options=transcript_aware(s), vad_inference_interval=0.01)
    assert commits(r) == [4.0]
    assert r.messages()[0] == ("user", HALF, False)


def test_speech_resuming_during_the_long_wait_keeps_one_turn() -> None:
    """A 0.7 s pause after "in" (2.0-2.7): the VAD ends the first part at 2.3, its transcript
    scores 0.15 (commit due at 3.5); "Tokyo?" starts at 2.7 and cancels it; the whole question
    scores 0.9 and commits at 3.5 (3.2 + 0.3). One user turn, one reply, to the whole."""
    whole = f"{HALF} Tokyo?"
    s = asked((0.5, 2.0, HALF), (2.7, 3.2, "Tokyo?"), answer_to=whole)
    r = run(s, options=transcript_aware(s), vad_inference_interval=0.01)
    assert commits(r) == [3.5]
    assert r.messages() == [("user", whole, False), ("assistant", "Sure.", False)]
    assert len(r.of_type("speech_created")) == 1
    assert r.playbacks[0].start >= 3.5
