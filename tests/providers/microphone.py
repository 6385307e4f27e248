"""A scripted microphone for session tests against the local servers: a loud tone where the
user speaks, silence elsewhere, each 20 ms frame delivered at its end time on the loop clock
(the servers "hear" loudness, so this is what drives their VAD and recognition)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from flowagents.types import AudioFrame
from flowagents.voice.io import AudioInput

__all__ = ["Microphone"]


class Microphone(AudioInput):
    """20 ms frames, loud inside ``speech`` spans, each delivered at its end time."""

    def __init__(self, speech: list[tuple[float, float]], duration: float) -> None:
        self.speech, self.duration = speech, duration

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k in range(round(self.duration / 0.02)):
            t = k * 0.02
            loud = any(a <= t < b for a, b in self.speech)
            data = np.full(320, 3000 if loud else 0, dtype=np.int16)
            await asyncio.sleep(start + t + 0.02 - loop.time())
            yield AudioFrame(data, 16000, timestamp=start + t)

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()
