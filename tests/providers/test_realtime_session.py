"""AgentSession(llm=openai.realtime.RealtimeModel(...)) runs the realtime graph against the local
Realtime server, in virtual time.

Script: the microphone (16 kHz, 20 ms frames) carries a loud tone where the user speaks:
0.5-2.0 s ("tell me a story"), and 4.0-5.0 s ("stop please") over the agent's reply. The
server's VAD hears speech start and stop (after 0.3 s of quiet), transcribes, and answers each
``response.create`` with 0.1 s of audio per word, 0.05 s apart.
"""

from __future__ import annotations

import asyncio

from flowagents.llm import function_tool
from flowagents.metrics import LLMMetrics
from flowagents.plugins import openai
from flowagents.runtime import run_virtual
from flowagents.session import AgentSession
from flowagents.testing import Script
from flowagents.testing.audio import RecordingAudioOutput
from flowagents.testing.fakes import FakeVAD
from flowagents.voice import Agent, SessionIO

from .microphone import Microphone
from .realtime_server import RealtimeServer

KEY = "sk-test-0123456789"
STORY = ("Once upon a time there was a fox who lived in a big forest near a river, and every "
         "morning it walked to the water to drink and to look at the fish.")


def test_realtime_session_answers_and_truncates_at_the_played_position() -> None:
    server = RealtimeServer(api_key=KEY)
    server.transcripts.extend(["tell me a story", "stop please"])
    server.replies.extend([STORY, "Okay."])

    async def main() -> tuple[AgentSession, RecordingAudioOutput, list[object]]:
        async with server as url:
            model = openai.realtime.RealtimeModel(base_url=url, api_key=KEY, voice="verse")
            session = AgentSession(llm=model)
            metrics: list[object] = []
            session.on("metrics_collected", lambda e: metrics.append(e.metrics))
            output = RecordingAudioOutput(can_pause=False)
            await session.start(Agent(instructions="Tell short stories."), io=SessionIO(
                audio_input=Microphone([(0.5, 2.0), (4.0, 5.0)], 9.0), audio_output=output))
            await asyncio.sleep(9.5)
            await session.aclose()
            await model.aclose()
            return session, output, metrics

    session, output, metrics = run_virtual(main())
    # the agent is set up once, with its instructions
    update = server.events[0][1]
    assert update["type"] == "session.update"
    assert update["session"]["instructions"] == "Tell short stories."
    # two turns answered, the first cancelled at the barge-in and truncated where it stopped
    assert server.kinds().count("response.create") == 2
    assert len(server.cancels) == 1
    ((item, played_ms, truncated_at),) = server.truncations
    messages = [(m.role, m.text_content, m.interrupted) for m in session.history.items
                if m.type == "message"]
    assert messages[0] == ("user", "tell me a story", False)
    role, said, interrupted = messages[1]
    assert (role, interrupted) == ("assistant", True)
    assert STORY.startswith(said)
    assert 0 < len(said) < len(STORY)
    assert messages[2:] == [("user", "stop please", False), ("assistant", "Okay.", False)]
    # the cut: the server's VAD dates the second speech at 3.973 s (the 24 kHz resampler's
    # filter rings ahead of the tone's onset), so the barge-in is at 3.973 + 0.5 s; the reply
    # played from the commit (2.831 s) until then, 1.642 s, and that is what the model is told
    assert round(truncated_at, 6) == 4.473
    assert played_ms == 1642
    played = sum(f.frame.duration for f in output.frames if f.time < truncated_at)
    assert abs(played - 1.642) < 0.021  # the output got it in 20 ms frames
    assert server.cancels == [truncated_at]  # the response still streaming was cancelled
    # the words of the history are those whose audio was played (0.1 s a word)
    assert said == " ".join(STORY.split()[:16])  # the 16 words played whole (0.1 s each)
    llm = [m for m in metrics if isinstance(m, LLMMetrics)]
    assert [m.label for m in llm] == ["openai-realtime"]  # the cancelled one never ended
    assert llm[0].completion_tokens == 10


def test_a_realtime_model_without_stt_and_tts_selects_the_realtime_graph() -> None:
    model = openai.realtime.RealtimeModel(api_key=KEY)
    session = AgentSession(llm=model)
    assert session._default_graph().name == "realtime"


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Answer about the weather.")

    @function_tool
    async def get_weather(self, location: str) -> str:
        """Look up the weather.

        Args:
            location: the city
        """
        return f"sunny in {location}"


def test_realtime_tool_call_runs_and_its_output_goes_back_to_the_model() -> None:
    server = RealtimeServer(api_key=KEY)
    server.transcripts.append("what is the weather in Paris")
    server.replies.extend([("get_weather", '{"location": "Paris"}'), "It is sunny in Paris."])

    async def main() -> AgentSession:
        async with server as url:
            model = openai.realtime.RealtimeModel(base_url=url, api_key=KEY)
            session = AgentSession(llm=model)
            await session.start(WeatherAgent(), io=SessionIO(
                audio_input=Microphone([(0.5, 2.0)], 6.0), audio_output=RecordingAudioOutput()))
            await asyncio.sleep(6.5)
            await session.aclose()
            await model.aclose()
            return session

    session = run_virtual(main())
    update = server.events[0][1]["session"]
    assert [t["name"] for t in update["tools"]] == ["get_weather"]
    assert update["tools"][0]["parameters"]["required"] == ["location"]
    created = [e["item"] for _, e in server.events if e["type"] == "conversation.item.create"]
    assert [(i["type"], i["output"]) for i in created] == [
        ("function_call_output", "sunny in Paris")]
    assert server.kinds().count("response.create") == 2
    items = [(i.type, getattr(i, "role", None) or getattr(i, "name", "")) for i in
             session.history.items]
    assert items == [("message", "user"), ("function_call", "get_weather"),
                     ("function_call_output", "get_weather"), ("message", "assistant")]
    assert session.history.items[-1].text_content == "It is sunny in Paris."
    call = session.history.items[1]
    assert (call.arguments, call.call_id) == ('{"location": "Paris"}', created[0]["call_id"])


def test_with_our_vad_the_graph_commits_the_turns() -> None:
    """AgentSession(llm=RealtimeModel, vad=...): the model's VAD is off; our VAD (the testing
    kit's, hearing 0.5-2.0 s) reports the end of speech with the 20 ms frame that reaches
    2.0 + 0.55 s of silence (at 2.56 s), which commits the model's audio buffer; the transcript
    comes back at once and, the endpointing delay (2.0 + 0.5 s) being over, the turn is
    answered at once."""
    server = RealtimeServer(api_key=KEY)
    server.transcripts.append("tell me a joke")
    script = Script()
    script.user_speech(start=0.5, end=2.0, transcript="(heard by the model)")

    async def main() -> AgentSession:
        async with server as url:
            model = openai.realtime.RealtimeModel(base_url=url, api_key=KEY)
            session = AgentSession(llm=model, vad=FakeVAD(script))
            await session.start(Agent(instructions="Be funny."), io=SessionIO(
                audio_input=Microphone([(0.5, 2.0)], 5.0), audio_output=RecordingAudioOutput()))
            await asyncio.sleep(5.5)
            await session.aclose()
            await model.aclose()
            return session

    session = run_virtual(main())
    assert server.events[0][1]["session"]["turn_detection"] is None
    assert [(round(t, 6), e["type"]) for t, e in server.events[1:]] == [
        (2.56, "input_audio_buffer.commit"), (2.56, "response.create")]
    assert [(m.role, m.text_content) for m in session.history.items] == [
        ("user", "tell me a joke"), ("assistant", "You said: tell me a joke")]
