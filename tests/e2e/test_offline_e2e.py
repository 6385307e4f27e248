"""The offline providers on real audio: Piper speaks, Silero hears, Whisper transcribes, SmolLM2
answers and calls tools; a tampered model file is refused.

The spoken questions are synthesized by Piper (the pinned joe voice) at test time, so the test
audio comes from the project's own models on any machine.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import jiwer
import numpy as np
import pytest

from flowagents.llm import ChatContext, function_tool
from flowagents.plugins.llama import _text_messages
from flowagents.plugins.llama_prompt import small_model_messages
from flowagents.plugins.local import LocalProviders, local_providers
from flowagents.plugins.model_files import (
    INSTALL_HINT,
    SILERO_VAD,
    ModelChecksumError,
    ModelNotInstalledError,
    ensure_model,
    package_root,
    require,
)
from flowagents.types import AudioFrame, VADEventType

pytestmark = pytest.mark.e2e

QUESTION = "What is the capital of France?"
LEAD, TAIL = 0.5, 1.0  # seconds of silence around the spoken question


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProviders]:
    providers = local_providers()
    yield providers
    asyncio.run(providers.aclose())


async def speak(local: LocalProviders, text: str) -> AudioFrame:
    chunks = [c async for c in local.tts.synthesize(text)]
    assert chunks
    assert chunks[-1].is_final
    return AudioFrame(np.concatenate([c.frame.data for c in chunks]), local.tts.sample_rate)


def frames_of(audio: AudioFrame, lead: float = LEAD, tail: float = TAIL,
              frame_s: float = 0.02) -> list[AudioFrame]:
    """``audio`` between silences, cut into 20 ms frames stamped on a clock starting at 0."""
    rate = audio.sample_rate
    pcm = np.concatenate([np.zeros(round(lead * rate), np.int16), audio.data,
                          np.zeros(round(tail * rate), np.int16)])
    n = round(frame_s * rate)
    return [AudioFrame(pcm[i:i + n], rate, timestamp=i / rate) for i in range(0, pcm.size, n)]


def speech_segments(local: LocalProviders, frames: list[AudioFrame]) -> list[tuple[float, float]]:
    stream = local.vad.stream()
    events = [e for f in frames for e in stream.process(f)] + list(stream.flush())
    marks = [e for e in events if e.type is not VADEventType.INFERENCE_DONE]
    return [(s.timestamp, e.timestamp) for s, e in zip(marks[::2], marks[1::2], strict=True)]


def normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


async def test_piper_speaks_16bit_audio_at_the_voice_rate(local: LocalProviders) -> None:
    chunks = [c async for c in local.tts.synthesize("Hello there. How are you today?")]
    assert len(chunks) == 2  # one per sentence, as Piper produces them
    assert [c.is_final for c in chunks] == [False, True]
    assert chunks[0].text
    assert not chunks[1].text
    for c in chunks:
        assert c.frame.sample_rate == local.tts.sample_rate == 22050
        assert c.frame.duration > 0.3


async def test_silero_finds_the_spoken_question(local: LocalProviders) -> None:
    audio = await speak(local, QUESTION)
    segments = speech_segments(local, frames_of(audio))
    assert len(segments) == 1
    start, end = segments[0]
    assert LEAD - 0.15 <= start <= LEAD + 0.3  # dated back to when speech began
    assert LEAD + audio.duration - 0.4 <= end <= LEAD + audio.duration + 0.2


async def test_silero_hears_nothing_in_silence(local: LocalProviders) -> None:
    assert speech_segments(local, frames_of(AudioFrame.silence(1.0, 22050))) == []


async def test_whisper_transcribes_the_question(local: LocalProviders) -> None:
    audio = await speak(local, QUESTION)
    event = await local.stt.recognize(frames_of(audio, lead=0.2, tail=0.3))
    assert event.is_final
    assert jiwer.wer(normalize(QUESTION), normalize(event.text)) <= 0.2, event.text


async def test_whisper_is_sure_of_a_whole_question_and_not_of_a_made_up_ending(
        local: LocalProviders) -> None:
    # the first words of a hesitant "Name a ... vegetable": Whisper writes a finished phrase
    # ("Name me.") whose last word it invented, and says it is not sure of it
    whole = await local.stt.recognize(frames_of(await speak(local, QUESTION), 0.5, 0.15))
    half = await local.stt.recognize(frames_of(await speak(local, "Name a"), 0.5, 0.15))
    assert whole.alternatives[0].confidence > 0.8, whole
    assert half.text.rstrip(".?!") != "Name a", half  # a continuation would not need it
    assert 0 < half.alternatives[0].confidence < 0.65, half


async def test_smollm2_answers_and_reports_usage(local: LocalProviders) -> None:
    ctx = ChatContext()
    ctx.add_message(role="system", content="You are a helpful assistant. Answer briefly.")
    ctx.add_message(role="user", content=QUESTION)
    chunks = [c async for c in local.llm.chat(chat_ctx=ctx)]
    text = "".join(c.delta for c in chunks)
    assert text.strip()
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens > 10
    assert usage.completion_tokens > 0


@function_tool
async def get_weather(location: str) -> str:
    """Get the current weather for a city.

    Args:
        location: The city name.
    """
    return f"It is sunny in {location}."


async def test_weather_question_gives_a_valid_call_with_location_tokyo(
    local: LocalProviders,
) -> None:
    ctx = ChatContext()
    ctx.add_message(role="system", content="You are a helpful voice assistant.")
    ctx.add_message(role="user", content="What is the weather in Tokyo?")
    chunks = [c async for c in local.llm.chat(chat_ctx=ctx, tools=[get_weather])]
    calls = [t for c in chunks for t in c.tool_calls]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].call_id
    args = json.loads(calls[0].arguments)
    assert args["location"].strip().lower() == "tokyo"


async def test_a_tool_turn_late_in_a_conversation_reads_only_its_new_tokens(
    local: LocalProviders,
) -> None:
    """The bug: a call's prompt (tools described) and the reply after its output started
    differently from every text reply's, so both read the whole conversation again (seconds
    per step, growing with the conversation). Each step now reuses llama.cpp's KV cache."""
    from flowagents.llm import FunctionCall, RunContext, execute_function_call

    llm = local.llm
    ctx = ChatContext()
    ctx.add_message(role="system", content="You are a friendly voice assistant.")
    for question, answer in [("What is the capital of France?", "Paris."),
                             ("Who wrote Romeo and Juliet?", "William Shakespeare."),
                             ("What do bees make?", "Bees make honey."),
                             ("Name three colors.", "Red, blue and green.")]:
        ctx.add_message(role="user", content=question)
        ctx.add_message(role="assistant", content=answer)
    ctx.add_message(role="user", content="Tell me a short joke.")
    text = [c async for c in llm.chat(chat_ctx=ctx, tools=[get_weather])]  # fills the cache
    assert not any(c.tool_calls for c in text)
    ctx.add_message(role="assistant", content="".join(c.delta for c in text))
    ctx.add_message(role="user", content="What is the weather in Tokyo?")

    call_chunks = [c async for c in llm.chat(chat_ctx=ctx, tools=[get_weather])]
    calls = [t for c in call_chunks for t in c.tool_calls]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"location": "Tokyo"})]
    usage = call_chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens > 150
    # read again: the question and the tools' description, not the conversation before it
    assert usage.prompt_tokens - usage.cached_tokens < 90, usage

    call = FunctionCall(call_id=calls[0].call_id, name=calls[0].name,
                        arguments=calls[0].arguments)
    done = await execute_function_call(call, [get_weather], RunContext(
        session=None, speech_handle=None, function_call=call))
    assert done.output is not None
    ctx.insert([call, done.output])
    reply = [c async for c in llm.chat(chat_ctx=ctx, tools=[get_weather])]
    assert "".join(c.delta for c in reply).strip()
    usage = reply[-1].usage
    assert usage is not None
    assert usage.prompt_tokens - usage.cached_tokens < 40, usage  # the tool's output


async def test_a_general_question_with_tools_is_answered_in_text(local: LocalProviders) -> None:
    ctx = ChatContext()
    ctx.add_message(role="system", content="You are a helpful voice assistant.")
    ctx.add_message(role="user", content=QUESTION)
    chunks = [c async for c in local.llm.chat(chat_ctx=ctx, tools=[get_weather])]
    assert "".join(c.delta for c in chunks).strip()
    assert not any(c.tool_calls for c in chunks)


async def test_closing_the_reply_stops_generation_at_the_next_token(
    local: LocalProviders,
) -> None:
    ctx = ChatContext()
    ctx.add_message(role="user", content="Tell me a very long story about a dragon.")
    reply = local.llm.chat(chat_ctx=ctx)
    async for _ in reply:
        break
    await reply.aclose()  # type: ignore[attr-defined]
    llama = local.llm._llama
    # The worker notices the flag at the next token; then the executor is free again.
    await asyncio.get_running_loop().run_in_executor(local.llm._executor, lambda: None)
    evaluated = llama.n_tokens
    await asyncio.sleep(0.2)
    assert llama.n_tokens == evaluated
    prompt = local.llm._formatter(messages=small_model_messages(_text_messages(ctx))).prompt
    generated = evaluated - len(llama.tokenize(prompt.encode(), add_bos=False, special=True))
    assert generated < 10  # far from max_tokens (60): it stopped, it did not finish


async def test_the_reply_round_trips_through_speech(local: LocalProviders) -> None:
    """LLM text -> Piper audio in which Silero finds speech and Whisper hears words."""
    ctx = ChatContext()
    ctx.add_message(role="system", content="Answer in one short sentence.")
    ctx.add_message(role="user", content=QUESTION)
    reply = "".join([c.delta async for c in local.llm.chat(chat_ctx=ctx)]).strip()
    audio = await speak(local, reply)
    assert speech_segments(local, frames_of(audio))
    heard = await local.stt.recognize(frames_of(audio, lead=0.2, tail=0.3))
    assert normalize(heard.text)


async def test_silero_with_a_shorter_silence_wait_ends_speech_sooner(
        local: LocalProviders) -> None:
    """``AgentSession(min_silence_duration=0.3)`` hears with 0.3 s: the option was ignored
    (the VAD kept its 0.55 s), so a turn could not end sooner than the VAD's default."""
    from flowagents.session import AgentSession

    audio = await speak(local, QUESTION)
    frames = frames_of(audio)
    session = AgentSession(**local.session_kwargs(min_silence_duration=0.3))
    assert session.vad is not None
    assert session.vad is not local.vad
    assert local.vad.options.min_silence_duration == 0.55

    def end_arrival(vad: object) -> float:
        stream = vad.stream()  # type: ignore[attr-defined]
        for frame in frames:
            if any(e.type is VADEventType.END_OF_SPEECH for e in stream.process(frame)):
                return frame.end_time
        raise AssertionError("no end of speech")

    shorter, default = end_arrival(session.vad), end_arrival(local.vad)
    assert default - shorter == pytest.approx(0.25, abs=0.05)


def test_a_corrupt_model_is_refused_and_never_cached(tmp_path: Path) -> None:
    source = tmp_path / "pkg"
    shutil.copytree(package_root(SILERO_VAD.package) / "data", source / "data")
    model = source / "data" / "silero_vad.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelChecksumError) as info:
        ensure_model(SILERO_VAD, source=source, cache=tmp_path / "cache")
    assert info.value.expected == SILERO_VAD.files[0].sha256
    assert INSTALL_HINT in str(info.value)
    assert not list((tmp_path / "cache").rglob("*.onnx"))


def test_a_verified_model_is_assembled_once(tmp_path: Path) -> None:
    first = ensure_model(SILERO_VAD, cache=tmp_path)
    stamp = (first / ".verified.json").stat().st_mtime_ns
    assert ensure_model(SILERO_VAD, cache=tmp_path) == first
    assert (first / ".verified.json").stat().st_mtime_ns == stamp


def test_a_missing_package_names_the_install_command() -> None:
    with pytest.raises(ModelNotInstalledError, match=re.escape(INSTALL_HINT)):
        require("flowagents_no_such_model_package", "no-such-model-package")


def test_session_kwargs_give_the_offline_latency_options(local: LocalProviders) -> None:
    from flowagents.session import AgentSession
    from flowagents.voice.options import SessionOptions
    from flowagents.voice.turn_detector import HeuristicTurnDetector

    session = AgentSession(**local.session_kwargs())
    assert (session.stt, session.llm, session.tts) == (local.stt, local.llm, local.tts)
    assert session.vad is not None
    assert session.vad.options.min_silence_duration == 0.3  # a copy of the shared VAD
    assert local.vad.options.min_silence_duration == 0.55
    assert session.options.speculative_stt_delay == 0.1
    assert session.options.preemptive_tts
    assert isinstance(session.turn_detection, HeuristicTurnDetector)
    assert session.turn_detection.min_confidence == 0.65  # Whisper reports its confidence
    assert (session.options.min_endpointing_delay, session.options.max_endpointing_delay) == (
        0.3, 1.5)
    # the library's own defaults stay conservative, and the caller's options win
    assert SessionOptions().speculative_stt_delay == 0.2
    assert not SessionOptions().preemptive_tts
    back = AgentSession(**local.session_kwargs(speculative_stt_delay=0.2, preemptive_tts=False))
    assert back.options.speculative_stt_delay == 0.2
    assert not back.options.preemptive_tts


async def test_whisper_base_from_its_two_packages_transcribes_the_question(
        local: LocalProviders) -> None:
    from flowagents.plugins.whisper import WhisperSTT

    base = WhisperSTT(model="base", prompt="lookup weather")
    try:
        assert base.model == "whisper-base"
        audio = await speak(local, QUESTION)
        event = await base.recognize(frames_of(audio, lead=0.2, tail=0.3))
    finally:
        await base.aclose()
    assert jiwer.wer(normalize(QUESTION), normalize(event.text)) <= 0.2, event.text


async def test_silero_scores_silence_ten_windows_a_wake(local: LocalProviders) -> None:
    stream = local.vad.stream()
    silence = AudioFrame(np.zeros(512, np.int16), 16000)
    counts = [len(stream.process(silence)) for _ in range(20)]
    assert counts == [0] * 9 + [10] + [0] * 9 + [10]  # one INFERENCE_DONE per window
    assert [e.type for e in stream.process(silence)] == []
    assert len(stream.flush()) == 1  # the window held back is scored at the end of input


async def test_after_a_prewarm_a_call_reads_only_the_question_and_its_opening(
    local: LocalProviders,
) -> None:
    """LLM.prewarm (given when the user starts speaking) reads the conversation and the one
    tool's description at the head of the new user turn; the call then reads only the
    question and the call's fixed opening, and a text reply after the same hint still reads
    only its question (the description is after everything it shares)."""
    llm = local.llm
    ctx = ChatContext()
    ctx.add_message(role="system", content="You are a friendly voice assistant.")
    ctx.add_message(role="user", content="What is the capital of France?")
    ctx.add_message(role="assistant", content="The capital of France is Paris.")
    for question, call in [("What is the weather in Tokyo?", True),
                           ("What do bees make?", False)]:
        llm.prewarm(chat_ctx=ctx.copy(), tools=[get_weather])
        asked = ctx.copy()
        asked.add_message(role="user", content=question)
        chunks = [c async for c in llm.chat(chat_ctx=asked, tools=[get_weather])]
        calls = [t for c in chunks for t in c.tool_calls]
        usage = chunks[-1].usage
        assert usage is not None
        if call:
            assert [(c.name, json.loads(c.arguments)) for c in calls] == [
                ("get_weather", {"location": "Tokyo"})]
            assert usage.prompt_tokens - usage.cached_tokens < 30, usage
        else:
            assert not calls
            assert "".join(c.delta for c in chunks).strip()
            assert usage.prompt_tokens - usage.cached_tokens < 20, usage


async def test_right_after_a_call_the_answer_reads_only_the_tools_output(
    local: LocalProviders,
) -> None:
    """Once a call is sampled, LlamaLLM reads the head of the prompt that answers its output
    (the user's question and "The get weather tool found:") while the tool runs; the answer
    then reads only the output and its turn's end. The call stops at its closing quote (the
    grammar allows nothing after it) and is the same call."""
    from flowagents.llm import FunctionCall, RunContext, execute_function_call

    llm = local.llm
    ctx = ChatContext()
    ctx.add_message(role="system", content="You are a friendly voice assistant.")
    ctx.add_message(role="user", content="What is the capital of France?")
    ctx.add_message(role="assistant", content="The capital of France is Paris.")
    ctx.add_message(role="user", content="What is the weather in Tokyo?")
    chunks = [c async for c in llm.chat(chat_ctx=ctx, tools=[get_weather])]
    calls = [t for c in chunks for t in c.tool_calls]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"location": "Tokyo"})]
    call = FunctionCall(call_id=calls[0].call_id, name=calls[0].name,
                        arguments=calls[0].arguments)
    done = await execute_function_call(call, [get_weather], RunContext(
        session=None, speech_handle=None, function_call=call))
    assert done.output is not None
    ctx.insert([call, done.output])
    prompt = llm._formatter(messages=small_model_messages(_text_messages(ctx))).prompt
    head = prompt[:prompt.index(" It is sunny in Tokyo.")]
    assert head.endswith("What is the weather in Tokyo?\nThe get weather tool found:")
    read_ahead = len(llm._llama.tokenize(head.encode(), add_bos=False, special=True))
    reply = [c async for c in llm.chat(chat_ctx=ctx, tools=[get_weather])]
    assert "".join(c.delta for c in reply).strip()
    usage = reply[-1].usage
    assert usage is not None
    assert usage.cached_tokens == read_ahead, usage
    assert usage.prompt_tokens - usage.cached_tokens < 25, usage  # the output and the end
