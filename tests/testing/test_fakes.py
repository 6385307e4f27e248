"""The fake providers play a script with exact timing on the virtual clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TypeVar

import numpy as np
import pytest

from flowagents.llm import ChatContext
from flowagents.runtime import run_virtual
from flowagents.testing import (
    FakeLLM,
    FakeSTT,
    FakeToolCall,
    FakeTTS,
    FakeVAD,
    RecordingAudioOutput,
    Script,
    VirtualAudioInput,
)
from flowagents.types import (
    AudioFrame,
    ChatChunk,
    SpeechEvent,
    SpeechEventType,
    SynthesizedAudio,
    VADEvent,
    VADEventType,
)
from flowagents.vad import VADOptions

T = TypeVar("T")
EXACT = 1e-9


def approx(values: list[float]) -> object:
    return pytest.approx(values, abs=EXACT)


async def timed(it: AsyncIterator[T]) -> list[tuple[float, T]]:
    loop = asyncio.get_running_loop()
    return [(loop.time(), x) async for x in it]


def hello_script() -> Script:
    return (Script()
            .user_speech(start=0.5, end=2.5, transcript="Hello, how are you?", stt_delay=0.2)
            .llm_reply(input="Hello, how are you?", content="I'm doing well, thank you!",
                       ttft=0.1, duration=0.3)
            .tts_audio(input="I'm doing well, thank you!", audio_duration=2.0, ttfb=0.2,
                       duration=0.3))


# -- audio input / output ------------------------------------------------------------------------


def test_virtual_input_yields_each_frame_at_its_end_time() -> None:
    async def main() -> list[tuple[float, AudioFrame]]:
        return await timed(aiter(VirtualAudioInput(0.05)))

    frames = run_virtual(main())
    assert [f.timestamp for _, f in frames] == approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert [t for t, _ in frames] == approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert all(f.samples_per_channel == 160 and f.sample_rate == 16000 for _, f in frames)


def test_virtual_input_does_not_drift_over_ten_minutes() -> None:
    async def main() -> tuple[float, float]:
        last = None
        async for frame in VirtualAudioInput(600.0, frame_duration=0.02):
            last = frame
        assert last is not None
        return asyncio.get_running_loop().time(), last.timestamp

    end, last_ts = run_virtual(main())
    assert end == pytest.approx(600.0, abs=1e-9)
    assert last_ts == pytest.approx(599.98, abs=1e-9)


def test_virtual_input_stops_on_aclose() -> None:
    async def main() -> int:
        mic = VirtualAudioInput(None)

        async def close_later() -> None:
            await asyncio.sleep(0.105)
            await mic.aclose()

        closer = asyncio.create_task(close_later())
        frames = [f async for f in mic]
        await closer
        return len(frames)

    assert run_virtual(main()) == 10


def test_virtual_input_read_by_a_cancelled_task_leaves_no_timer_behind() -> None:
    """A reader cancelled mid-wait (a session closing) must not leave the frame timer to
    resolve a cancelled future: the loop would report an error in a callback."""

    async def main() -> list[dict[str, object]]:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        mic = VirtualAudioInput(None, frame_duration=0.02)

        async def read() -> None:
            async for _ in mic:
                pass

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.05)  # mid-wait for the third frame
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await asyncio.sleep(0.1)
        return errors

    assert run_virtual(main()) == []


def test_virtual_input_pushes_each_frame_at_its_end_time_then_ends() -> None:
    async def main() -> tuple[list[tuple[float, float]], list[tuple[float, object]]]:
        loop = asyncio.get_running_loop()
        frames: list[tuple[float, float]] = []
        ends: list[tuple[float, object]] = []
        mic = VirtualAudioInput(0.05, start=1.0)
        mic.push_to(lambda f: frames.append((loop.time(), f.timestamp)),
                    lambda error: ends.append((loop.time(), error)))
        await asyncio.sleep(2.0)
        return frames, ends

    frames, ends = run_virtual(main())
    assert [t for t, _ in frames] == approx([1.01, 1.02, 1.03, 1.04, 1.05])
    assert [ts for _, ts in frames] == approx([1.0, 1.01, 1.02, 1.03, 1.04])
    assert ends == [(pytest.approx(1.05), None)]


def test_virtual_input_plays_its_background_in_order_and_loops_it() -> None:
    background = np.arange(3 * 160, dtype=np.int16)  # three 10 ms frames at 16 kHz

    async def main() -> tuple[list[list[int]], list[list[int]]]:
        pushed: list[list[int]] = []
        mic = VirtualAudioInput(0.05, background=background)
        mic.push_to(lambda f: pushed.append(f.data[[0, -1]].tolist()), lambda error: None)
        read = [f.data[[0, -1]].tolist()
                async for f in VirtualAudioInput(0.05, background=background)]
        return pushed, read

    pushed, read = run_virtual(main())
    expected = [[0, 159], [160, 319], [320, 479], [0, 159], [160, 319]]
    assert pushed == read == expected
    for bad in (np.zeros(100, np.int16), np.zeros((160, 2), np.int16), np.zeros(0, np.int16)):
        with pytest.raises(ValueError, match="whole number of 160-sample frames"):
            VirtualAudioInput(None, background=bad)


def test_virtual_input_pushing_ends_on_aclose_stops_on_stop_and_fails_with_its_consumer() -> None:
    async def main() -> dict[str, tuple[int, list[object]]]:
        out: dict[str, tuple[int, list[object]]] = {}

        closed, closed_ends = VirtualAudioInput(None), []  # type: ignore[var-annotated]
        closed.push_to(lambda f: None, closed_ends.append)
        stopped, stopped_ends = VirtualAudioInput(None), []  # type: ignore[var-annotated]
        stop = stopped.push_to(lambda f: None, stopped_ends.append)
        failing, failing_ends = VirtualAudioInput(None), []  # type: ignore[var-annotated]

        def refuse(frame: AudioFrame) -> None:
            if failing.frames == 3:
                raise ValueError("bad frame")

        failing.push_to(refuse, failing_ends.append)
        await asyncio.sleep(0.105)
        await closed.aclose()
        stop()
        await asyncio.sleep(0.1)
        out["closed"] = (closed.frames, closed_ends)
        out["stopped"] = (stopped.frames, stopped_ends)
        out["failing"] = (failing.frames, [type(e).__name__ for e in failing_ends])
        return out

    out = run_virtual(main())
    assert out["closed"] == (10, [None])
    assert out["stopped"] == (10, [])  # stopping is the consumer's doing: no end reported
    assert out["failing"] == (3, ["ValueError"])


def test_recording_output_records_times_and_clears() -> None:
    async def main() -> RecordingAudioOutput:
        out = RecordingAudioOutput(can_pause=False)
        await asyncio.sleep(1.0)
        out.capture(AudioFrame.silence(0.02, 24000))
        await asyncio.sleep(0.5)
        out.clear()
        return out

    out = run_virtual(main())
    assert not out.can_pause
    assert [c.time for c in out.frames] == [1.0]
    assert out.clears == [1.5]
    assert out.audio_duration == pytest.approx(0.02)


# -- VAD -----------------------------------------------------------------------------------------


async def vad_run(script: Script, duration: float, **kw: float | None) -> list[tuple[float,
                                                                                      VADEvent]]:
    stream = FakeVAD(script, **kw).stream()  # type: ignore[arg-type]
    out: list[tuple[float, VADEvent]] = []
    async for frame in VirtualAudioInput(duration):
        out += [(asyncio.get_running_loop().time(), e) for e in stream.process(frame)]
    return out


def test_vad_delivers_start_and_end_late_and_dates_them_back() -> None:
    events = run_virtual(vad_run(hello_script(), 4.0))
    assert [e.type for _, e in events] == [VADEventType.START_OF_SPEECH,
                                           VADEventType.END_OF_SPEECH]
    assert [t for t, _ in events] == approx([0.55, 3.05])  # + min speech 0.05, + min silence 0.55
    assert [e.timestamp for _, e in events] == approx([0.5, 2.5])
    assert events[1][1].speech_duration == pytest.approx(2.0)


def test_vad_noise_is_speech_too_and_close_segments_merge() -> None:
    script = (Script().user_speech(start=1.0, end=1.5)  # noise: VAD only
              .user_speech(start=1.8, end=2.0, transcript="hi")  # 0.3 s pause < 0.55 s
              .user_speech(start=3.0, end=3.03, transcript="uh"))  # shorter than min speech
    events = run_virtual(vad_run(script, 4.0))
    assert [(round(t, 6), e.type.name, round(e.timestamp, 6)) for t, e in events] == [
        (1.05, "START_OF_SPEECH", 1.0), (2.55, "END_OF_SPEECH", 2.0)]


def test_vad_options_change_the_delivery_times() -> None:
    opts = VADOptions(min_speech_duration=0.1, min_silence_duration=0.3)
    events = run_virtual(vad_run(hello_script(), 4.0, options=opts))  # type: ignore[arg-type]
    assert [t for t, _ in events] == approx([0.6, 2.8])


def test_vad_inference_events_when_asked() -> None:
    events = run_virtual(vad_run(hello_script(), 1.0, inference_interval=0.1))
    done = [(t, e) for t, e in events if e.type is VADEventType.INFERENCE_DONE]
    assert [t for t, _ in done] == approx([0.01 + 0.1 * i for i in range(10)])
    speaking = [e for _, e in done if e.speaking]
    assert speaking[0].speech_duration == pytest.approx(0.11)


def test_vad_flush_ends_speech_still_open() -> None:
    async def main() -> list[VADEvent]:
        stream = FakeVAD(hello_script()).stream()
        async for frame in VirtualAudioInput(1.0):
            stream.process(frame)
        return list(stream.flush())

    (end,) = run_virtual(main())
    assert end.type is VADEventType.END_OF_SPEECH


# -- STT -----------------------------------------------------------------------------------------


async def stt_run(script: Script, duration: float) -> list[tuple[float, SpeechEvent]]:
    stream = FakeSTT(script).stream()

    async def feed() -> None:
        async for frame in VirtualAudioInput(duration):
            stream.push_frame(frame)
        stream.end_input()

    feeder = asyncio.create_task(feed())
    events = await timed(aiter(stream))
    await feeder
    return events


def test_stt_interim_at_half_delay_final_at_delay() -> None:
    events = run_virtual(stt_run(hello_script(), 3.0))
    assert [(e.type, e.text) for _, e in events] == [
        (SpeechEventType.INTERIM_TRANSCRIPT, "Hello, how"),
        (SpeechEventType.FINAL_TRANSCRIPT, "Hello, how are you?")]
    assert [t for t, _ in events] == approx([2.6, 2.7])
    assert [e.timestamp for _, e in events] == approx([2.6, 2.7])
    assert events[1][1].alternatives[0].start_time == 0.5


def test_stt_noise_and_unheard_segments_yield_nothing() -> None:
    script = Script().user_speech(start=0.2, end=0.4).user_speech(
        start=5.0, end=6.0, transcript="never heard")
    assert run_virtual(stt_run(script, 3.0)) == []


def test_stt_stops_on_aclose() -> None:
    async def main() -> list[SpeechEvent]:
        stream = FakeSTT(hello_script()).stream()
        async for frame in VirtualAudioInput(2.65):
            stream.push_frame(frame)
        await stream.aclose()
        await asyncio.sleep(1.0)
        return [e async for e in stream]

    events = run_virtual(main())
    assert [e.type for e in events] == [SpeechEventType.INTERIM_TRANSCRIPT]


def test_stt_recognize_answers_after_the_delay() -> None:
    async def main() -> tuple[float, SpeechEvent]:
        stt = FakeSTT(hello_script())
        frames = [f async for f in VirtualAudioInput(3.0)]
        event = await stt.recognize(frames)
        return asyncio.get_running_loop().time(), event

    t, event = run_virtual(main())
    assert t == pytest.approx(3.2, abs=EXACT)
    assert event.is_final
    assert event.text == "Hello, how are you?"


# -- LLM -----------------------------------------------------------------------------------------


def user_ctx(text: str, instructions: str = "Be kind.") -> ChatContext:
    ctx = ChatContext()
    ctx.add_message(role="system", content=instructions)
    ctx.add_message(role="user", content=text)
    return ctx


def test_llm_streams_the_reply_between_ttft_and_duration() -> None:
    async def main() -> tuple[FakeLLM, list[tuple[float, ChatChunk]]]:
        llm = FakeLLM(hello_script())
        await asyncio.sleep(1.0)
        return llm, await timed(llm.chat(chat_ctx=user_ctx("Hello,  how are you?")))

    llm, chunks = run_virtual(main())
    assert "".join(c.delta for _, c in chunks) == "I'm doing well, thank you!"
    assert [c.delta for _, c in chunks] == ["I'm doing ", "well, thank ", "you!", ""]
    assert [t for t, _ in chunks] == approx([1.1, 1.1 + 0.2 / 3, 1.1 + 0.4 / 3, 1.3])
    usage = chunks[-1][1].usage
    assert usage is not None
    assert usage.completion_tokens == 5
    assert usage.prompt_tokens == 6
    (call,) = llm.calls
    assert call.time == 1.0
    assert call.completed
    assert call.input == "Hello,  how are you?"
    assert call.chat_ctx.items[-1].type == "message"


def test_llm_tool_calls_stream_as_deltas() -> None:
    script = Script().llm_reply(
        input="Weather in Tokyo?", content="Let me check.",
        tool_calls=[FakeToolCall("get_weather", {"location": "Tokyo"})])
    script.llm_reply(input="sunny, 20 degrees", content="It is sunny.")

    async def main() -> tuple[list[ChatChunk], list[ChatChunk]]:
        llm = FakeLLM(script)
        first = [c async for c in llm.chat(chat_ctx=user_ctx("Weather in Tokyo?"))]
        ctx = user_ctx("Weather in Tokyo?")
        from flowagents.llm import FunctionCall, FunctionCallOutput
        ctx.insert(FunctionCall(call_id="call_1", name="get_weather", arguments="{}"))
        ctx.insert(FunctionCallOutput(call_id="call_1", name="get_weather",
                                      output="sunny, 20 degrees"))
        second = [c async for c in llm.chat(chat_ctx=ctx)]
        return first, second

    first, second = run_virtual(main())
    deltas = [d for c in first for d in c.tool_calls]
    assert {d.index for d in deltas} == {0}
    assert deltas[0].name == "get_weather"
    assert deltas[0].call_id == "call_1"
    assert json.loads("".join(d.arguments for d in deltas)) == {"location": "Tokyo"}
    assert "".join(c.delta for c in second) == "It is sunny."


def test_llm_answers_instructions_and_unknown_input_is_empty() -> None:
    script = Script().llm_reply(input="Greet the user.", content="Hi there!")

    async def main() -> tuple[str, list[tuple[float, ChatChunk]]]:
        llm = FakeLLM(script)
        ctx = ChatContext()
        ctx.add_message(role="system", content="Greet the user.")
        greeting = "".join([c.delta async for c in llm.chat(chat_ctx=ctx)])
        return greeting, await timed(llm.chat(chat_ctx=user_ctx("What?")))

    greeting, unknown = run_virtual(main())
    assert greeting == "Hi there!"
    assert [c.delta for _, c in unknown] == [""]
    assert unknown[0][0] == pytest.approx(0.3 + 0.3, abs=EXACT)


def test_llm_catch_all_reply() -> None:
    script = Script().llm_reply(input=None, content="Sure.")

    async def main() -> str:
        return "".join([c.delta async for c in FakeLLM(script).chat(chat_ctx=user_ctx("x"))])

    assert run_virtual(main()) == "Sure."


def test_llm_closing_the_stream_stops_it() -> None:
    async def main() -> FakeLLM:
        llm = FakeLLM(hello_script())
        stream = llm.chat(chat_ctx=user_ctx("Hello, how are you?"))
        assert isinstance(stream, AsyncIterator)
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        return llm

    (call,) = run_virtual(main()).calls
    assert not call.completed
    assert call.closed_at == pytest.approx(0.1)
    assert len(call.chunks) == 1


# -- TTS -----------------------------------------------------------------------------------------


def test_tts_scripted_audio_first_at_ttfb_last_at_duration() -> None:
    async def main() -> list[tuple[float, SynthesizedAudio]]:
        tts = FakeTTS(hello_script())
        return await timed(tts.synthesize("I'm doing well,\nthank you!"))

    chunks = run_virtual(main())
    assert len(chunks) == 100  # 2.0 s in 20 ms frames
    assert chunks[0][0] == pytest.approx(0.2, abs=EXACT)
    assert chunks[-1][0] == pytest.approx(0.3, abs=EXACT)
    assert sum(c.frame.duration for _, c in chunks) == pytest.approx(2.0)
    assert chunks[0][1].text == "I'm doing well,\nthank you!"
    assert chunks[-1][1].is_final
    assert chunks[0][1].frame.sample_rate == 24000


def test_tts_unscripted_text_is_voiced_by_length_or_not_at_all() -> None:
    async def main(unscripted: bool) -> float:
        tts = FakeTTS(Script(), unscripted_audio=unscripted)
        return sum([c.frame.duration async for c in tts.synthesize("Goodbye!")])

    assert run_virtual(main(True)) == pytest.approx(0.4)  # 8 characters * 0.05 s
    assert run_virtual(main(False)) == 0.0


def test_tts_sentence_of_a_scripted_text_gets_its_share() -> None:
    script = Script().tts_audio(input="One two. Three four five six!", audio_duration=2.9)

    async def main() -> float:
        return sum([c.frame.duration async for c in FakeTTS(script).synthesize("One two.")])

    assert run_virtual(main()) == pytest.approx(0.8, abs=0.02)


def test_tts_stream_voices_each_flushed_segment() -> None:
    async def main() -> list[tuple[float, SynthesizedAudio]]:
        tts = FakeTTS(hello_script(), frame_duration=0.1)
        stream = tts.stream()
        for word in ["I'm ", "doing ", "well, ", "thank ", "you!"]:
            stream.push_text(word)
        stream.end_input()
        return await timed(aiter(stream))

    chunks = run_virtual(main())
    assert len(chunks) == 20
    assert chunks[0][0] == pytest.approx(0.2, abs=EXACT)


def test_tts_cancellation_stops_the_synthesis() -> None:
    async def main() -> FakeTTS:
        tts = FakeTTS(hello_script())

        async def consume() -> None:
            async for _ in tts.synthesize("I'm doing well, thank you!"):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.25)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return tts

    (call,) = run_virtual(main()).calls
    assert not call.completed
    assert call.closed_at == pytest.approx(0.25)
    assert 0 < call.chunks < 100


def test_stt_events_due_at_one_instant_keep_their_order() -> None:
    """Eight segments heard at once, after they ended: every interim and final is due at the
    same instant, and they come out in script order, each interim before its final (the loop's
    timer heap alone would mix equal deadlines)."""
    s = Script()
    for i in range(8):
        s.user_speech(start=0.1 * i, end=0.1 * i + 0.05, transcript=f"word{i} and more here",
                      stt_delay=0.0)
    stt = FakeSTT(s)

    async def main() -> list[tuple[bool, str]]:
        stream = stt.stream()
        await asyncio.sleep(2.0)
        stream.push_frame(AudioFrame(np.zeros(16000, dtype=np.int16), 16000, 1, 0.0))
        stream.end_input()
        return [(e.type is SpeechEventType.FINAL_TRANSCRIPT, e.alternatives[0].text)
                async for e in stream]

    events = run_virtual(main())
    assert events == [pair for i in range(8) for pair in (
        (False, f"word{i} and"), (True, f"word{i} and more here"))]
