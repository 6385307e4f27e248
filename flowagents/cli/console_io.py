"""Console audio: a WAV file played as the user, a WAV recorder, and the local mic and speaker.

``flowagents console`` runs a session on one of these pairs. :class:`WavAudioInput` plays a WAV
file (any sample rate and channel count: it is downmixed to mono and resampled to 16 kHz once)
**in real time**: frame ``k`` is delivered when the loop clock reaches its end, as a microphone
would, because the session's clock is the loop's (endpointing delays, playout pacing and
interruptions are all measured on it), so a file pushed faster than real time would not be heard
the way a user is. Silence is delivered before the file (until :meth:`WavAudioInput.play` is
called, so the user can wait for the greeting) and after it (a microphone stays open after the
user stops talking; the VAD needs that silence to end the turn). :class:`WavAudioOutput` keeps
the agent's audio as played and writes it with :meth:`WavAudioOutput.save`.

:func:`open_device` opens the default microphone and speaker with ``sounddevice`` (PortAudio);
it raises :class:`NoAudioDeviceError` with what to do instead when there is no PortAudio library
or no device. The device callbacks run on PortAudio's thread and only hand data over (to the
loop with ``call_soon_threadsafe``; from a locked buffer to the speaker).
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from flowagents.types import AudioFrame
from flowagents.voice.io import AudioInput, AudioOutput

__all__ = [
    "ClipAudioInput",
    "MicrophoneInput",
    "NoAudioDeviceError",
    "SpeakerOutput",
    "WavAudioInput",
    "WavAudioOutput",
    "open_device",
    "read_wav",
]

RATE = 16000
_PCM = npt.NDArray[np.int16]


class NoAudioDeviceError(RuntimeError):
    """The machine has no usable microphone or speaker (or no PortAudio library)."""


def _resample(pcm: _PCM, rate: int, target: int) -> _PCM:
    if rate == target or pcm.size == 0:
        return pcm
    from livekit import rtc

    resampler = rtc.AudioResampler(rate, target, num_channels=1,
                                   quality=rtc.AudioResamplerQuality.HIGH)
    frames = resampler.push(rtc.AudioFrame(pcm.tobytes(), rate, 1, pcm.size))
    frames += resampler.flush()
    if not frames:
        return np.zeros(0, np.int16)
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


def read_wav(path: str | Path, sample_rate: int = RATE) -> _PCM:
    """A WAV (or any soundfile format) as mono int16 at ``sample_rate``."""
    try:
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"cannot read audio file {path}: {e}") from None
    mono: _PCM = (data[:, 0] if data.shape[1] == 1
                  else data.astype(np.int32).mean(axis=1).round().astype(np.int16))
    return _resample(np.ascontiguousarray(mono), int(rate), sample_rate)


class ClipAudioInput(AudioInput):
    """A microphone in real time that hears silence except the clips it is told to :meth:`say`.

    Frame ``k`` (``frame_duration`` seconds, 16 kHz mono) is delivered when the loop clock reaches
    its end. Clips play one after another from the next frame; :attr:`clip_starts` holds the
    session-clock time of each clip's first sample.
    """

    def __init__(self, *, frame_duration: float = 0.02) -> None:
        self.frame_duration = frame_duration
        self.clip_starts: list[float] = []
        self._n = round(frame_duration * RATE)
        self._silence = np.zeros(self._n, np.int16)
        self._clips: collections.deque[tuple[_PCM, asyncio.Event]] = collections.deque()
        self._closed = False

    def say(self, pcm: _PCM) -> asyncio.Event:
        """Play ``pcm`` (16 kHz mono int16) after any clip already queued; the event is set
        once its last frame was delivered."""
        done = asyncio.Event()
        self._clips.append((pcm, done))
        return done

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        pos = 0  # samples of the current clip already delivered
        while not self._closed:
            due = start + (k + 1) * self.frame_duration
            await asyncio.sleep(max(0.0, due - loop.time()))
            if self._closed:
                return
            stamp = start + k * self.frame_duration
            data = self._silence
            if self._clips:
                pcm, done = self._clips[0]
                if pos == 0:
                    self.clip_starts.append(stamp)
                chunk = pcm[pos:pos + self._n]
                pos += self._n
                if pos >= pcm.size:
                    self._clips.popleft()
                    pos = 0
                    done.set()
                if chunk.size:
                    data = np.concatenate([chunk, self._silence[chunk.size:]])
            yield AudioFrame(data, RATE, 1, stamp)
            k += 1

    async def aclose(self) -> None:
        self._closed = True


class WavAudioInput(ClipAudioInput):
    """A WAV file as the user's microphone, in real time (see the module docstring).

    ``autoplay=False`` delivers silence until :meth:`play`. :attr:`ended` is set once the file's
    last frame was delivered; silence follows until :meth:`aclose`.
    """

    def __init__(self, path: str | Path, *, frame_duration: float = 0.02,
                 autoplay: bool = True) -> None:
        super().__init__(frame_duration=frame_duration)
        self.path = Path(path)
        self.pcm = read_wav(self.path)
        self.duration = self.pcm.size / RATE
        self.ended = asyncio.Event()
        self._played = False
        if autoplay:
            self.play()

    def play(self) -> None:
        """Start the file (at the next frame; once)."""
        if not self._played:
            self._played = True
            self.ended = self.say(self.pcm)


class WavAudioOutput(AudioOutput):
    """Keeps the agent's audio as a speaker would play it; :meth:`save` writes it (mono 16-bit).

    A frame handed over while earlier audio is still "playing" queues behind it (a provider may
    hand a whole sentence as one frame), and :meth:`clear` (an interruption) cuts the queued
    audio at that moment, so the file holds what the user heard. Replies are concatenated in
    playout order (the silences between them are not recorded). ``first_frame_times`` holds the
    loop time at which each segment's first frame was handed over, ``clears`` the times of the
    interruptions, ``last_frame_time`` the time the last recorded sample plays out.
    """

    def __init__(self) -> None:
        self.frames: list[AudioFrame] = []
        self.first_frame_times: list[float] = []
        self.clears: list[float] = []
        self._starts: list[float] = []  # when each frame starts to play
        self._head = 0.0  # when the queued audio ends
        self._segment_open = False

    def capture(self, frame: AudioFrame) -> None:
        now = asyncio.get_running_loop().time()
        if not self._segment_open:
            self.first_frame_times.append(now)
            self._segment_open = True
        start = max(now, self._head)
        self.frames.append(frame)
        self._starts.append(start)
        self._head = start + frame.duration

    def clear(self) -> None:
        now = asyncio.get_running_loop().time()
        self.clears.append(now)
        self._segment_open = False
        while self.frames and self._starts[-1] >= now:
            self.frames.pop()
            self._starts.pop()
        if self.frames and self._starts[-1] + self.frames[-1].duration > now:
            f = self.frames[-1]
            keep = round((now - self._starts[-1]) * f.sample_rate) * f.num_channels
            self.frames[-1] = AudioFrame(f.data[:keep], f.sample_rate, f.num_channels,
                                         f.timestamp)
        self._head = min(self._head, now)

    def flush(self) -> None:
        self._segment_open = False

    @property
    def last_frame_time(self) -> float | None:
        return self._head if self.frames else None

    @property
    def duration(self) -> float:
        return sum(f.duration for f in self.frames)

    def pcm(self) -> tuple[_PCM, int]:
        """All captured audio, mono, at the first frame's rate."""
        if not self.frames:
            return np.zeros(0, np.int16), RATE
        rate = self.frames[0].sample_rate
        parts = []
        for f in self.frames:
            data = f.data
            if f.num_channels > 1:
                data = data.reshape(-1, f.num_channels).mean(axis=1).astype(np.int16)
            parts.append(_resample(data, f.sample_rate, rate))
        return np.concatenate(parts), rate

    def save(self, path: str | Path) -> Path:
        pcm, rate = self.pcm()
        out = Path(path)
        sf.write(str(out), pcm, rate, subtype="PCM_16")
        return out


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise NoAudioDeviceError(
            "the console's microphone mode needs the Python package 'sounddevice': "
            "pip install 'flowagents[local]'") from None
    except OSError as e:  # the package imports PortAudio at import time
        raise NoAudioDeviceError(
            f"no audio device: {e} (install PortAudio, for example 'apt-get install "
            "libportaudio2', or run without a device: --text, or --input question.wav "
            "--output reply.wav)") from None
    return sounddevice


def open_device(*, input_rate: int = RATE,
                output_rate: int = 22050) -> tuple[MicrophoneInput, SpeakerOutput]:
    """The default microphone and speaker; :class:`NoAudioDeviceError` if there are none."""
    sd = _sounddevice()
    try:
        sd.query_devices(kind="input")
        sd.query_devices(kind="output")
    except Exception as e:  # PortAudioError, ValueError: no default device
        raise NoAudioDeviceError(
            f"no audio device: {e} (run without a device: --text, or --input question.wav "
            "--output reply.wav)") from None
    return MicrophoneInput(sd, input_rate), SpeakerOutput(sd, output_rate)


class MicrophoneInput(AudioInput):
    """The default input device, 20 ms mono frames at ``sample_rate``, stamped on the loop."""

    def __init__(self, sd: Any, sample_rate: int = RATE) -> None:
        self._sd = sd
        self.sample_rate = sample_rate
        self._stream: Any = None

    def __aiter__(self) -> AsyncIterator[AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_PCM] = asyncio.Queue()

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, indata[:, 0].copy())

        self._stream = self._sd.InputStream(
            samplerate=self.sample_rate, channels=1, dtype="int16",
            blocksize=self.sample_rate // 50, callback=callback)
        self._stream.start()
        while True:
            data = await queue.get()
            now = loop.time()
            yield AudioFrame(data, self.sample_rate, 1, now - data.size / self.sample_rate)

    async def aclose(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class SpeakerOutput(AudioOutput):
    """The default output device; frames are queued and pulled by PortAudio's callback."""

    can_pause = True

    def __init__(self, sd: Any, sample_rate: int = 22050) -> None:
        self.sample_rate = self._rate = sample_rate
        self._buffer: collections.deque[_PCM] = collections.deque()
        self._lock = threading.Lock()
        self._stream = sd.OutputStream(samplerate=sample_rate, channels=1, dtype="int16",
                                       callback=self._pull)
        self._stream.start()

    def _pull(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        out = np.zeros(frames, np.int16)
        filled = 0
        with self._lock:
            while filled < frames and self._buffer:
                head = self._buffer[0]
                take = min(frames - filled, head.size)
                out[filled:filled + take] = head[:take]
                filled += take
                if take == head.size:
                    self._buffer.popleft()
                else:
                    self._buffer[0] = head[take:]
        outdata[:, 0] = out

    def capture(self, frame: AudioFrame) -> None:
        data = frame.data
        if frame.num_channels > 1:
            data = data.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        data = _resample(data, frame.sample_rate, self._rate)
        with self._lock:
            self._buffer.append(data)

    def clear(self) -> None:
        with self._lock:
            self._buffer.clear()

    async def aclose(self) -> None:
        self._stream.stop()
        self._stream.close()
