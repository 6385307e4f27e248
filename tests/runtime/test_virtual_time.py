"""Virtual time: one graph, the same timeline under the TestScheduler and on a virtual-time loop,
and a 60-second spoken exchange through gate, endpointing and sleeping async bridges.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reactivex.testing import TestScheduler
from voice_sim import FRAME, arrival, frames, token_reply, voice_graph

from flowagents.runtime import GraphRuntime, run_virtual
from flowagents.voice.turns import UserTurn


def summary(turn: UserTurn) -> tuple[float, float, str]:
    return (round(turn.speech_start, 6), round(turn.speech_end, 6), turn.transcript)


def heard_frames(segments: list[tuple[float, float]], pre_roll: float = 0.51,
                 start_frames: int = 5, end_frames: int = 10) -> list[int]:
    """Frames the gate passes per utterance, by index arithmetic on the script.

    The VAD's START comes with the frame ``start_frames - 1`` after the first loud one and END
    with the frame ``end_frames - 1`` after the first quiet one; the gate is open from START's
    frame up to (not including) END's frame, and the pre-roll adds the frames before START that
    arrived since the gate closed and end after ``start - pre_roll``.
    """
    counts, closed_at = [], 0
    for s, e in segments:
        first_loud, first_quiet = round(s / FRAME), round(e / FRAME)
        opened = first_loud + start_frames - 1
        closed = first_quiet + end_frames - 1
        pre = next(k for k in range(closed_at, opened + 1) if (k + 1) * FRAME > s - pre_roll)
        counts.append(closed - max(pre, closed_at))
        closed_at = closed
    return counts


SHORT_SCRIPT = [(1.0, 2.5), (4.0, 4.6), (4.9, 6.0)]


def test_same_graph_same_timeline_on_test_scheduler_and_virtual_loop() -> None:
    audio = frames(SHORT_SCRIPT, 500)

    scheduler = TestScheduler()
    runtime = GraphRuntime(voice_graph(), scheduler=scheduler).start()
    under_rx: list[tuple[float, Any]] = []
    runtime.output("turns").subscribe(
        lambda t: under_rx.append((round(scheduler.clock, 6), summary(t))))
    for i, f in enumerate(audio):
        scheduler.schedule_absolute(arrival(i), lambda *_, f=f: runtime.push("audio", f))
    scheduler.advance_to(12.0)
    runtime.close()

    async def on_loop() -> list[tuple[float, Any]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[float, Any]] = []
        async with GraphRuntime(voice_graph()) as rt:
            rt.output("turns").subscribe(lambda t: got.append((round(loop.time(), 6), summary(t))))
            for i, f in enumerate(audio):
                loop.call_at(arrival(i), rt.push, "audio", f)
            await asyncio.sleep(12.0)
        return got

    under_loop = run_virtual(on_loop())
    n1, n2, n3 = heard_frames(SHORT_SCRIPT)
    assert under_rx == [
        (3.0, (1.0, 2.5, f"utterance 1: {n1} frames")),
        (6.5, (4.0, 6.0, f"utterance 2: {n2} frames utterance 3: {n3} frames")),
    ]
    assert under_loop == under_rx


EXCHANGE = [(2.0, 5.0), (8.0, 9.1), (20.0, 21.5), (21.8, 23.0), (45.0, 50.0)]


def test_sixty_second_exchange_in_virtual_time() -> None:
    audio = frames(EXCHANGE, 3000)
    closed: list[str] = []

    async def exchange() -> tuple[list[Any], list[Any], float, int]:
        loop = asyncio.get_running_loop()
        own = asyncio.all_tasks()
        turns: list[Any] = []
        words: list[Any] = []
        graph = voice_graph(stt_mode="async", reply=token_reply(1.0, 5, closed))
        async with GraphRuntime(graph) as rt:
            rt.output("turns").subscribe(lambda t: turns.append((round(loop.time(), 6), t)))
            rt.output("words").subscribe(lambda w: words.append((round(loop.time(), 6), w)))
            for i, f in enumerate(audio):
                loop.call_at(arrival(i), rt.push, "audio", f)
            await asyncio.sleep(60.0)
        await asyncio.sleep(0)
        return turns, words, loop.time(), len(asyncio.all_tasks() - own)

    wall = time.perf_counter()
    turns, words, ended, leftover = run_virtual(exchange())
    wall = time.perf_counter() - wall
    print(f"60 s exchange: {len(audio)} frames in {wall * 1000:.0f} ms wall time")

    counts = heard_frames(EXCHANGE)
    assert counts == [185, 90, 110, 75, 285]
    assert [(t, summary(turn)) for t, turn in turns] == [
        (5.5, (2.0, 5.0, "utterance 1: 185 frames")),
        (9.6, (8.0, 9.1, "utterance 2: 90 frames")),
        (23.5, (20.0, 23.0, "utterance 3: 110 frames utterance 4: 75 frames")),
        (50.5, (45.0, 50.0, "utterance 5: 285 frames")),
    ]
    # The STT answers 0.45 s after the dated end: before the 0.5 s deadline.
    for _, turn in turns:
        assert round(turn.committed_at - turn.transcripts[-1].timestamp, 6) == 0.05
    expected_words = [(6.5 + k, f"utterance 1 word {k}") for k in range(4)]  # cut at 9.6
    for commit, n in ((9.6, 2), (23.5, 3), (50.5, 5)):
        expected_words += [(round(commit + 1 + k, 6), f"utterance {n} word {k}")
                           for k in range(5)]
    assert words == expected_words
    assert closed == [f"closed utterance {n}" for n in (1, 2, 3, 5)]
    assert ended == 60.0
    assert leftover == 0
