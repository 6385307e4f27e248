"""Scenarios: user text as input (it interrupts the agent and is a turn), and images attached to
a user turn (by the agent's hook, or the session's camera frame), as the LLM receives them.

The story: asked at 0.5-2.5 s, the turn commits at 3.05, the story plays from 3.25.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from flowagents.llm import ChatContext, ChatMessage, ImageContent
from flowagents.metrics import EOUMetrics
from flowagents.testing import Script, sleep_until
from flowagents.voice import Agent, TextInput, VideoInput

from .conftest import approx, run, states

ASK = "Tell me a story."
STORY = "Once upon a time there was a fox. It lived in a big forest. The end."
CAT = "https://example.com/cat.jpg"


def story() -> Script:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript=ASK)
    s.llm_reply(input=ASK, content=STORY)
    s.tts_audio(input=STORY, audio_duration=6.0)
    return s


class Typed(TextInput):
    """Messages typed at given times (a room's chat)."""

    def __init__(self, *messages: tuple[float, str]) -> None:
        self.messages = messages

    async def _read(self) -> AsyncIterator[str]:
        for when, text in self.messages:
            await sleep_until(when)
            yield text

    def __aiter__(self) -> AsyncIterator[str]:
        return self._read()


class Listener(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="x")
        self.turns: list[str] = []

    async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                     new_message: ChatMessage) -> None:
        self.turns.append(new_message.text_content or "")


def test_user_text_interrupts_the_agent_and_is_a_turn() -> None:
    s = story()
    s.llm_reply(input="What time is it?", content="It is noon.")
    s.tts_audio(input="It is noon.", audio_duration=1.0)
    agent = Listener()
    r = run(s, agent=agent, text_input=Typed((5.0, "What time is it?")))
    assert agent.turns == [ASK, "What time is it?"]
    first, second = r.playbacks
    assert (first.end, first.interrupted) == (approx(5.0), True)
    # LLM 5.0-5.3, TTS from 5.3: first audio at 5.5
    assert (second.start, second.end) == (approx(5.5), approx(6.5))
    assert r.messages() == [
        ("user", ASK, False), ("assistant", "Once upon a time", True),
        ("user", "What time is it?", False), ("assistant", "It is noon.", False)]
    # straight from speaking to thinking: no "listening" while the typed turn is answered
    assert states(r.agent_states)[3:] == [(3.25, "speaking"), (5.0, "thinking"),
                                          (5.5, "speaking"), (6.5, "listening")]
    # a typed turn has no end of utterance to measure
    assert len([m for m in r.metrics if isinstance(m, EOUMetrics)]) == 1


def test_push_text_when_idle_is_a_turn() -> None:
    s = Script()
    s.llm_reply(input="Hi.", content="Hello!")
    s.tts_audio(input="Hello!", audio_duration=1.0)
    r = run(s, actions={1.0: lambda session: session.push_text("  Hi. ")})
    assert r.messages() == [("user", "Hi.", False), ("assistant", "Hello!", False)]
    assert r.playbacks[0].start == approx(1.5)


def images_of(message: ChatMessage) -> list[str]:
    return [c.image for c in message.content if isinstance(c, ImageContent)]


def last_user(ctx: ChatContext) -> ChatMessage:
    return [i for i in ctx.items if i.type == "message" and i.role == "user"][-1]


class Looker(Agent):
    async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                     new_message: ChatMessage) -> None:
        new_message.content.append(ImageContent(image=CAT))


def test_an_image_attached_in_on_user_turn_completed_reaches_the_llm() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="What is this?")
    s.llm_reply(input="What is this?", content="A cat.")
    s.tts_audio(input="A cat.", audio_duration=1.0)
    r = run(s, agent=Looker(instructions="You see."))
    assert r.llm is not None
    preemptive, committed = r.llm.calls
    # the preemptive call (2.7) saw no image, so the committed turn asks again (3.05)
    assert (preemptive.time, images_of(last_user(preemptive.chat_ctx))) == (approx(2.7), [])
    assert (committed.time, images_of(last_user(committed.chat_ctx))) == (approx(3.05), [CAT])
    assert images_of(last_user(r.history)) == [CAT]
    assert r.playbacks[0].start == approx(3.55)


class Camera(VideoInput):
    def __init__(self) -> None:
        self.captures: list[float] = []

    async def capture_image(self) -> ImageContent | None:
        import asyncio

        self.captures.append(asyncio.get_running_loop().time())
        return ImageContent(image=f"data:image/jpeg;base64,frame{len(self.captures)}")


def test_the_session_attaches_the_latest_camera_frame_to_each_user_turn() -> None:
    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="What do you see?")
    s.llm_reply(input="What do you see?", content="A desk.")
    s.tts_audio(input="A desk.", audio_duration=1.0)
    camera = Camera()
    r = run(s, options={"attach_video": True}, video_input=camera)
    assert camera.captures == [approx(3.05)]  # once, when the turn commits
    assert r.llm is not None
    assert images_of(last_user(r.llm.calls[-1].chat_ctx)) == [
        "data:image/jpeg;base64,frame1"]


def test_without_attach_video_the_camera_is_only_read_on_demand() -> None:
    camera = Camera()
    seen: list[list[str]] = []

    class Asker(Agent):
        async def on_user_turn_completed(self, turn_ctx: ChatContext,
                                         new_message: ChatMessage) -> None:
            image = await self.session.capture_image()
            assert image is not None
            new_message.content.append(image)
            seen.append(images_of(new_message))

    s = Script()
    s.user_speech(start=0.5, end=2.5, transcript="Look.")
    r = run(s, agent=Asker(instructions="x"), video_input=camera)
    assert seen == [["data:image/jpeg;base64,frame1"]]
    assert r.llm is not None
    assert images_of(last_user(r.llm.calls[-1].chat_ctx)) == ["data:image/jpeg;base64,frame1"]
