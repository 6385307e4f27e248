"""Record and replay: a recorded session, replayed in virtual time, takes the same turns."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowagents.errors import APIConnectOptions, APIStatusError
from flowagents.runtime import run_virtual
from flowagents.session.recording import read_recording
from flowagents.testing import Script, SimulationResult, recorded_agent_states, simulate
from flowagents.voice import Agent, SessionConnectOptions

LIVE_OPTIONS = {"min_endpointing_delay": 0.4, "min_silence_duration": 0.3,
                "false_interruption_timeout": 1.0}


def _live_script() -> Script:
    """A conversation with uneven provider timings, a barge-in and a noise burst."""
    s = Script()
    s.user_speech(start=0.5, end=1.7, transcript="What's the weather in Paris?", stt_delay=0.27)
    s.llm_reply(input="What's the weather in Paris?",
                content="It is sunny in Paris today. Expect twenty degrees.",
                ttft=0.33, duration=0.61)
    s.tts_audio(input="It is sunny in Paris today.", audio_duration=1.9, ttfb=0.18,
                duration=0.4)
    s.tts_audio(input="Expect twenty degrees.", audio_duration=1.3, ttfb=0.22, duration=0.35)
    s.user_speech(start=3.1, end=3.9, transcript="Wait, and tomorrow?", stt_delay=0.31)
    s.llm_reply(input="Wait, and tomorrow?", content="Tomorrow brings rain.", ttft=0.21,
                duration=0.5)
    s.tts_audio(input="Tomorrow brings rain.", audio_duration=1.7, ttfb=0.25, duration=0.3)
    s.user_speech(start=5.2, end=5.8)  # a cough while the agent speaks: a false interruption
    s.user_speech(start=9.0, end=9.8, transcript="Thanks!", stt_delay=0.15)
    s.llm_reply(input="Thanks!", content="You're welcome.", ttft=0.12, duration=0.2)
    s.tts_audio(input="You're welcome.", audio_duration=0.8, ttfb=0.1, duration=0.2)
    return s


def _live(path: Path) -> SimulationResult:
    # the live run hears 20 ms frames; the replay 10 ms ones (its own default)
    return run_virtual(simulate(_live_script(), agent=Agent(instructions="weather"),
                                options=LIVE_OPTIONS, frame_duration=0.02, record=path))


def test_from_recording_takes_what_the_providers_answered(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    _live(path)
    script = Script.from_recording(path)
    assert script.session_options["min_endpointing_delay"] == 0.4
    assert script.session_options["min_silence_duration"] == 0.3
    # segments placed so the fake VAD delivers when the live one did: the live VAD delivered
    # the first start at 0.56 (0.5 + 0.05, on the 20 ms grid) and its end at 2.0 (1.7 + 0.3)
    assert [(round(s.start, 3), round(s.end, 3), s.transcript, round(s.stt_delay, 3))
            for s in script.speech] == [
        (0.51, 1.7, "What's the weather in Paris?", 0.27),
        (3.11, 3.9, "Wait, and tomorrow?", 0.31),
        (5.21, 5.8, "", 0.0),
        (9.01, 9.8, "Thanks!", 0.15)]
    assert [(r.input, r.content, round(r.ttft, 3), round(r.duration, 3))
            for r in script.llm_replies] == [
        ("What's the weather in Paris?", "It is sunny in Paris today. Expect twenty degrees.",
         0.33, 0.61),
        ("Wait, and tomorrow?", "Tomorrow brings rain.", 0.21, 0.5),
        ("Thanks!", "You're welcome.", 0.12, 0.2)]
    assert [(a.input, round(a.audio_duration, 3), round(a.ttfb, 3))
            for a in script.tts_audios] == [
        ("It is sunny in Paris today.", 1.9, 0.18), ("Expect twenty degrees.", 1.3, 0.22),
        ("Tomorrow brings rain.", 1.7, 0.25), ("You're welcome.", 0.8, 0.1)]


def test_replay_takes_the_live_turns_within_20_ms(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    live = _live(path)
    script = Script.from_recording(path)
    replay = run_virtual(simulate(script, agent=Agent(instructions="weather"),
                                  options=script.session_options))
    recorded = recorded_agent_states(path)
    assert [s for _, s in recorded] == [s for _, s in live.agent_states]
    states = replay.agent_states
    assert [s for _, s in states] == [s for _, s in recorded]
    assert "thinking" in [s for _, s in states]
    for (t_live, s_live), (t_replay, _) in zip(recorded, states, strict=True):
        assert t_replay == pytest.approx(t_live, abs=0.02), s_live
    # the same conversation: what was said, played and cut
    assert replay.messages() == live.messages()
    assert any(interrupted for _, _, interrupted in live.messages())
    _, events = read_recording(path)
    assert [e["input"] for e in events if e["type"] == "llm" and not e["cancelled"]] == [
        e["input"] for e in replay.recorded_events()
        if e["type"] == "llm" and not e["cancelled"]]


def test_from_recording_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "notes.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(ValueError, match="not a flowagents session recording"):
        Script.from_recording(other)


def test_the_kit_reads_the_format_the_session_writes() -> None:
    from flowagents.session.recording import FORMAT_VERSION
    from flowagents.testing import script

    assert script._RECORDING_VERSION == FORMAT_VERSION


def test_a_real_console_recording_replays_within_20_ms() -> None:
    """docs/recordings/console-question.jsonl: ``flowagents console examples/minimal.py --input
    examples/audio/question.wav --record ...`` on the offline models (Silero, Whisper, SmolLM2,
    Piper), in real time. Replayed on the testing kit's fakes with the same agent, the session
    takes the same states at the same times."""
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    path = root / "docs" / "recordings" / "console-question.jsonl"
    spec = importlib.util.spec_from_file_location("minimal_example",
                                                  root / "examples" / "minimal.py")
    assert spec is not None
    assert spec.loader is not None
    minimal = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(minimal)
    script = Script.from_recording(path)
    assert [s.transcript for s in script.speech] == ["What is the weather in Tokyo?"]
    replay = run_virtual(simulate(script, agent=minimal.create_agent(),
                                  options=script.session_options))
    live = recorded_agent_states(path)
    assert [s for _, s in replay.agent_states] == [s for _, s in live]
    for (t_live, state), (t_replay, _) in zip(live, replay.agent_states, strict=True):
        assert t_replay == pytest.approx(t_live, abs=0.02), state
    assert [role for role, _, _ in replay.messages()] == ["assistant", "user", "assistant"]


def test_a_failure_seen_live_replays_as_it_happened(tmp_path: Path) -> None:
    """A stalled LLM (timed out, then retried) and a TTS whose voice failed for good, live;
    the recording's script replays both without being told about them."""
    path = tmp_path / "live.jsonl"
    live_script = _live_script()
    # the first reply's first call never answers: timed out at 1.5 s, its retry is cut by the
    # user's next turn; then "Tomorrow brings rain." (the first synthesis) fails, and its retry
    live_script.fault("llm", "stall", call=1)
    for call in (1, 2):
        live_script.fault("tts", call=call, error="status")
    conn = SessionConnectOptions(llm_conn_options=APIConnectOptions(timeout=1.5, max_retry=1),
                                 tts_conn_options=APIConnectOptions(max_retry=1))
    live = run_virtual(simulate(live_script, agent=Agent(instructions="weather"),
                                options={**LIVE_OPTIONS, "conn_options": conn},
                                frame_duration=0.02, record=path))
    live_errors = [(round(e.time, 3), type(e.event.error), e.event.source)
                   for e in live.of_type("error")]
    assert [(kind, source) for _, kind, source in live_errors] == [(APIStatusError, "tts")]
    assert ("assistant", "Tomorrow brings rain.", True) in live.messages()

    script = Script.from_recording(path)
    # the failures, as faults on the same calls at the same instants after them
    assert [(f.provider, f.call, f.after_chunks, round(f.after or 0, 3), f.error)
            for f in script.faults] == [("llm", 1, 0, 1.5, "timeout"),
                                        ("tts", 1, 0, 0.25, "status"),
                                        ("tts", 2, 0, 0.25, "status")]
    replay = run_virtual(simulate(script, agent=Agent(instructions="weather"),
                                  options=script.session_options))
    recorded = recorded_agent_states(path)
    assert [s for _, s in replay.agent_states] == [s for _, s in recorded]
    for (t_live, s_live), (t_replay, _) in zip(recorded, replay.agent_states, strict=True):
        assert t_replay == pytest.approx(t_live, abs=0.02), s_live
    assert [(pytest.approx(t, abs=0.02), kind, source) for t, kind, source in live_errors] == [
        (round(e.time, 3), type(e.event.error), e.event.source)
        for e in replay.of_type("error")]
    assert replay.messages() == live.messages()
