"""Session audio for tests: a microphone that yields silence (or a given background) on the loop
clock, and an output that records what was played and when.

The fake providers decide from the script, not from the samples, so the input can be silence;
what matters is that frames arrive at their real times. A real VAD hears the samples: give it
a ``background`` (a hiss, a recorded utterance at its time). A captured frame exists once its last
sample is recorded, so frame ``k`` (timestamp ``start + k * frame_duration``) is yielded when the
loop clock reads ``start + (k + 1) * frame_duration``. Waits are to absolute times, so the input
does not drift however long it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowagents.types import AudioFrame
from flowagents.voice.io import AudioInput, AudioOutput

__all__ = ["CapturedFrame", "RecordingAudioOutput", "VirtualAudioInput"]


class VirtualAudioInput(AudioInput):
    """Silent frames of ``frame_duration`` seconds, each delivered at its end time.

    ``start`` defaults to the loop time when iteration begins; ``duration=None`` runs until
    :meth:`aclose`. Iterate it once, or have it push its frames (:meth:`push_to`, what a
    session does: one timer per frame, no future or task step). ``background``: mono int16
    samples at ``sample_rate`` heard instead of silence, from ``start`` on and again from its
    beginning when it ends (its length a whole number of frames); frames are views of it.
    """

    def __init__(self, duration: float | None, frame_duration: float = 0.01,
                 sample_rate: int = 16000, *, start: float | None = None,
                 background: np.ndarray[Any, np.dtype[np.int16]] | None = None) -> None:
        if frame_duration <= 0:
            raise ValueError("frame_duration must be positive")
        self.duration = duration
        self.frame_duration = frame_duration
        self.sample_rate = sample_rate
        self.start = start
        self.frames = 0  # yielded so far
        n = round(frame_duration * sample_rate)
        if background is None:
            samples = np.zeros(n, dtype=np.int16)
        else:
            samples = np.array(background, dtype=np.int16)
            if samples.ndim != 1 or not samples.size or samples.size % n:
                raise ValueError(f"background must be mono samples, a whole number of "
                                 f"{n}-sample frames")
        samples.flags.writeable = False  # shared by every frame
        self._samples = [samples[i:i + n] for i in range(0, samples.size, n)]
        self._wake: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pusher: _FramePusher | None = None
        self._closed = False

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        start = loop.time() if self.start is None else self.start
        total = (None if self.duration is None
                 else round(self.duration / self.frame_duration))
        k = 0
        while not self._closed and (total is None or k < total):
            # one future and one timer per frame, the timer resolving the future itself: a
            # real-time input wakes the loop 50-100 times a second per session
            fut = self._wake = loop.create_future()
            timer = self._timer = loop.call_at(start + (k + 1) * self.frame_duration,
                                               fut.set_result, None)
            try:
                await fut
            except BaseException:  # cancelled: the timer must not resolve a cancelled future
                timer.cancel()
                raise
            finally:
                self._wake = self._timer = None
            if self._closed:
                return
            self.frames += 1
            yield AudioFrame(self._samples[k % len(self._samples)], self.sample_rate, 1,
                             start + k * self.frame_duration)
            k += 1

    def push_to(self, on_frame: Callable[[AudioFrame], None],
                on_end: Callable[[BaseException | None], None]) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        start = loop.time() if self.start is None else self.start
        total = None if self.duration is None else round(self.duration / self.frame_duration)
        pusher = self._pusher = _FramePusher(self, loop, start, total, on_frame, on_end)
        pusher.next()
        return pusher.stop

    async def aclose(self) -> None:
        """End the iteration or the pushing (a pending wait returns at once)."""
        self._closed = True
        if self._pusher is not None:
            self._pusher.finish(None)
        if self._timer is not None:
            self._timer.cancel()
        if self._wake is not None:
            _resolve(self._wake)


class _FramePusher:
    """Pushes a :class:`VirtualAudioInput`'s frames: one loop timer per frame, at its end."""

    __slots__ = ("done", "index", "input", "loop", "on_end", "on_frame", "start", "timer",
                 "total")

    def __init__(self, mic: VirtualAudioInput, loop: asyncio.AbstractEventLoop, start: float,
                 total: int | None, on_frame: Callable[[AudioFrame], None],
                 on_end: Callable[[BaseException | None], None]) -> None:
        self.input, self.loop, self.start, self.total = mic, loop, start, total
        self.on_frame, self.on_end = on_frame, on_end
        self.index = 0
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def next(self) -> None:
        if self.total is not None and self.index >= self.total:
            self.finish(None)
        else:
            self.timer = self.loop.call_at(
                self.start + (self.index + 1) * self.input.frame_duration, self.tick)

    def tick(self) -> None:
        mic, k = self.input, self.index
        mic.frames += 1
        self.index = k + 1
        try:
            samples = mic._samples
            self.on_frame(AudioFrame(samples[k % len(samples)], mic.sample_rate, 1,
                                     self.start + k * mic.frame_duration))
        except Exception as exc:  # the consumer failed: the input ends with its error
            self.finish(exc)
            return
        if not self.done:
            self.next()

    def stop(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def finish(self, error: BaseException | None) -> None:
        if not self.done:
            self.stop()
            self.on_end(error)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A frame the output was handed, and the loop time it was handed at."""

    time: float
    frame: AudioFrame


class RecordingAudioOutput(AudioOutput):
    """Records each captured frame with the loop time, and the times of ``clear`` and ``flush``."""

    def __init__(self, can_pause: bool = True, sample_rate: int | None = None) -> None:
        self.can_pause = can_pause
        self.sample_rate = sample_rate
        self.frames: list[CapturedFrame] = []
        self.clears: list[float] = []
        self.flushes: list[float] = []
        self.closed = False

    def capture(self, frame: AudioFrame) -> None:
        if self.sample_rate is not None and frame.sample_rate != self.sample_rate:
            raise ValueError(f"output expects {self.sample_rate} Hz, got {frame.sample_rate} Hz")
        self.frames.append(CapturedFrame(asyncio.get_running_loop().time(), frame))

    def clear(self) -> None:
        self.clears.append(asyncio.get_running_loop().time())

    def flush(self) -> None:
        self.flushes.append(asyncio.get_running_loop().time())

    async def aclose(self) -> None:
        self.closed = True

    @property
    def audio_duration(self) -> float:
        """Seconds of audio captured in all."""
        return sum(c.frame.duration for c in self.frames)

    @property
    def first_frame_time(self) -> float | None:
        return self.frames[0].time if self.frames else None
