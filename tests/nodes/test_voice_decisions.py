"""The decisions the session used to make, now nodes of the voice graph, tested alone in virtual
time: preemptive reuse (turn_reply), handoffs through the feedback edge (active_agent), the
chat history (chat_history) and playout's orders (supersede, interrupt_all). Inputs are plain
subjects; the nodes get no session, only their ports."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping
from typing import Any

import pytest
from reactivex import Observable
from reactivex.subject import Subject

from flowagents.graph import BuildContext, Node
from flowagents.llm import AgentHandoff, ChatItem, ChatMessage
from flowagents.runtime import LoopScheduler, run_virtual
from flowagents.types import SpeechData, SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice import Agent, SessionOptions
from flowagents.voice.options import turn_options
from flowagents.voice.signals import ActiveAgent, PlaybackEvent, PlayoutControl
from flowagents.voice.speech import Speech, SpeechHandle, StepResult
from flowagents.voice.turns import UserTurn
from nodes.reply.history import ChatHistory
from nodes.reply.turn_reply import TurnReply
from nodes.turn.active_agent import ActiveAgentNode


def approx(value: Any) -> Any:
    return pytest.approx(value, abs=1e-6)


class Rec:
    def __init__(self, stream: Observable[Any]) -> None:
        self.values: list[tuple[float, Any]] = []
        loop = asyncio.get_running_loop()
        stream.subscribe(lambda v: self.values.append((round(loop.time(), 6), v)))

    @property
    def items(self) -> list[Any]:
        return [v for _, v in self.values]


def build(node: Node, inputs: Mapping[str, Observable[Any]],
          **resources: Any) -> Mapping[str, Observable[Any]]:
    loop = asyncio.get_running_loop()
    return node.build(BuildContext(LoopScheduler(loop), "node", loop, resources), inputs)


async def at(t: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, t - loop.time()))


def final(text: str) -> SpeechEvent:
    return SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, 0.0, (SpeechData(text),))


def active(agent: Agent) -> ActiveAgent:
    return ActiveAgent(agent, turn_options(SessionOptions(), agent), 0.0)


# -- preemptive reuse -------------------------------------------------------------------------

def reply_node(agent: Agent) -> tuple[dict[str, Subject[Any]], dict[str, Rec]]:
    ins: dict[str, Subject[Any]] = {n: Subject() for n in
                                    ("turns", "transcripts", "vad", "requests", "agent")}
    outs = build(TurnReply(), ins)
    recs = {name: Rec(stream) for name, stream in outs.items()}
    # the history edge: the user message enters the agent's context
    recs["user"] = Rec(outs["user"])
    outs["user"].subscribe(agent._chat_ctx.insert)
    ins["agent"].on_next(active(agent))
    return ins, recs


def test_a_preemptive_reply_is_reused_when_the_turn_commits_unchanged() -> None:
    async def main() -> None:
        agent = Agent(instructions="Be brief.")
        ins, recs = reply_node(agent)
        await at(2.7)
        event = final("Hello there.")
        ins["transcripts"].on_next(event)
        (t, preemptive), = recs["speeches"].values
        assert (t, preemptive.preemptive, preemptive.scheduled) == (2.7, True, False)
        assert preemptive.chat_ctx.items[-1].text_content == "Hello there."
        await at(3.05)
        ins["turns"].on_next(UserTurn("Hello there.", 0.5, 2.55, 3.05, (event,)))
        assert recs["control"].values == [(3.05, PlayoutControl("supersede", None, 3.05))]
        await at(3.1)
        assert recs["replies"].values == [(3.05, preemptive)]
        assert recs["speeches"].items == [preemptive, preemptive]
        assert preemptive.scheduled
        assert preemptive.user_turn is not None
        assert [m.text_content for m in recs["user"].items] == ["Hello there."]

    run_virtual(main())


def test_a_preemptive_reply_is_dropped_when_the_context_changed() -> None:
    async def main() -> None:
        agent = Agent(instructions="Be brief.")
        ins, recs = reply_node(agent)
        await at(2.7)
        event = final("Hello there.")
        ins["transcripts"].on_next(event)
        preemptive = recs["speeches"].items[0]
        await at(2.9)  # something enters the agent's context before the commit
        agent._chat_ctx.add_message(role="assistant", content="A note.", created_at=2.9)
        await at(3.05)
        ins["turns"].on_next(UserTurn("Hello there.", 0.5, 2.55, 3.05, (event,)))
        await at(3.1)
        (t, fresh), = recs["replies"].values
        assert t == 3.05
        assert fresh is not preemptive
        assert preemptive.text is None  # cancelled
        assert preemptive.resources.is_disposed
        assert [i.text_content for i in fresh.chat_ctx.items if i.type == "message"] == [
            "Be brief.", "A note.", "Hello there."]

    run_virtual(main())


def test_speech_starting_again_drops_the_preemptive_reply() -> None:
    async def main() -> None:
        agent = Agent(instructions="Be brief.")
        ins, recs = reply_node(agent)
        await at(2.7)
        ins["transcripts"].on_next(final("Hello."))
        preemptive = recs["speeches"].items[0]
        await at(2.8)
        ins["vad"].on_next(VADEvent(VADEventType.START_OF_SPEECH, 2.75))
        assert preemptive.resources.is_disposed
        await at(3.5)
        second = final("Are you there?")
        ins["transcripts"].on_next(second)
        # the next preemptive reply answers both utterances of the turn
        assert recs["speeches"].items[1].chat_ctx.items[-1].text_content == (
            "Hello. Are you there?")

    run_virtual(main())


# -- handoff through the feedback edge --------------------------------------------------------

class Leaving(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="first")
        self.log: list[tuple[str, float]] = []

    async def on_enter(self) -> None:
        self.log.append(("enter", asyncio.get_running_loop().time()))

    async def on_exit(self) -> None:
        await asyncio.sleep(0.5)
        self.log.append(("exit", asyncio.get_running_loop().time()))


class Arriving(Agent):
    def __init__(self, log: list[tuple[str, float]]) -> None:
        super().__init__(instructions="second", min_endpointing_delay=1.0)
        self.log = log

    async def on_enter(self) -> None:
        self.log.append(("enter second", asyncio.get_running_loop().time()))


def test_a_handoff_on_the_feedback_edge_runs_exit_record_and_enter_in_order() -> None:
    async def main() -> None:
        agents: Subject[Agent] = Subject()
        handoffs: Subject[Agent] = Subject()
        outs = build(ActiveAgentNode(defaults=SessionOptions(min_endpointing_delay=0.4)),
                     {"agents": agents, "handoffs": handoffs})
        rec_agent, rec_turn, rec_items = Rec(outs["agent"]), Rec(outs["turn"]), Rec(outs["items"])
        rec_endpointing = Rec(outs["endpointing"])
        first = Leaving()
        first._session = session = object()  # type: ignore[assignment]
        agents.on_next(first)
        first._chat_ctx.add_message(role="user", content="Sales please.")
        second = Arriving(first.log)
        second._chat_ctx = first.chat_ctx  # built from the first agent's context...
        first._chat_ctx.add_message(role="assistant", content="Transferring.")  # ...then more
        await at(2.0)
        handoffs.on_next(second)
        await at(3.0)
        assert first.log == [("enter", 0.0), ("exit", 2.5), ("enter second", 2.5)]
        assert [(t, a.agent) for t, a in rec_agent.values] == [(0.0, first), (2.5, second)]
        assert [(t, o.min_endpointing_delay) for t, o in rec_turn.values] == [
            (0.0, 0.4), (2.5, 1.0)]
        assert [(t, c.min_delay) for t, c in rec_endpointing.values] == [(0.0, 0.4), (2.5, 1.0)]
        ((t, record),) = rec_items.values
        assert t == 2.5
        assert isinstance(record, AgentHandoff)
        assert (record.old_agent_id, record.new_agent_id) == ("leaving", "arriving")
        # the new agent carries on from the old one's context and session
        assert [i.text_content for i in second._chat_ctx.items] == [
            "Sales please.", "Transferring."]
        assert second._session is session

    run_virtual(main())


def test_many_handoffs_hold_no_finished_hooks() -> None:
    """Each handoff runs on_exit and on_enter as tasks; once they end, nothing keeps them."""

    def done_tasks() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, asyncio.Task) and o.done())

    async def main() -> None:
        agents: Subject[Agent] = Subject()
        handoffs: Subject[Agent] = Subject()
        outs = build(ActiveAgentNode(), {"agents": agents, "handoffs": handoffs})
        names: list[str] = []
        outs["agent"].subscribe(lambda a: names.append(a.agent.instructions))
        agents.on_next(Agent(instructions="first"))
        await at(1.0)
        before = done_tasks()
        for i in range(30):
            handoffs.on_next(Agent(instructions=f"agent {i}"))
            await at(2.0 + i)
        assert names == ["first", *(f"agent {i}" for i in range(30))]
        assert done_tasks() - before < 5  # 60 hook tasks ran (on_exit, on_enter per handoff)

    run_virtual(main())


# -- the chat history -------------------------------------------------------------------------

def test_the_history_records_played_text_into_the_agent_and_the_handle() -> None:
    async def main() -> None:
        agent = Agent(instructions="x")
        ins: dict[str, Subject[Any]] = {n: Subject() for n in ("agent", "user", "playback")}
        items: list[ChatItem] = []
        build(ChatHistory(), ins)["items"].subscribe(items.append)
        ins["agent"].on_next(active(agent))
        ins["user"].on_next(ChatMessage(role="user", content=["Hi."], created_at=0.5))
        speech = Speech(SpeechHandle(allow_interruptions=True), agent)
        result = StepResult(0, "Hello, how", 1.0, 2.0, 1.0, True)
        ins["playback"].on_next(PlaybackEvent("step_done", speech, 2.0, result))
        assert [(i.role, i.text_content, i.interrupted) for i in items] == [
            ("user", "Hi.", False), ("assistant", "Hello, how", True)]
        assert agent._chat_ctx.items == items
        assert speech.handle.chat_items == items[1:]

    run_virtual(main())

