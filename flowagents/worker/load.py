"""The worker's load: system CPU use averaged over the last few samples (psutil).

The server balances jobs on this figure, and the worker refuses new jobs at ``load_threshold``.
Sampling runs on the worker loop every ``interval`` seconds; ``psutil.cpu_percent(None)`` is
non-blocking and measures use since the previous call.
"""

from __future__ import annotations

import asyncio
import collections

import psutil

__all__ = ["CpuLoadMonitor"]


class CpuLoadMonitor:
    """Moving average of CPU use in [0, 1]."""

    def __init__(self, *, interval: float = 0.5, samples: int = 5) -> None:
        self._interval = interval
        self._samples: collections.deque[float] = collections.deque(maxlen=samples)
        self._task: asyncio.Task[None] | None = None
        psutil.cpu_percent(interval=None)  # prime the counter

    @property
    def load(self) -> float:
        if not self._samples:
            return 0.0
        return sum(self._samples) / len(self._samples)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cpu-load-monitor")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._samples.append(psutil.cpu_percent(interval=None) / 100.0)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
