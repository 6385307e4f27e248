"""Session I/O: where a voice session's audio and text come from and go to.

The session reads user audio from an :class:`AudioInput` and writes the agent's audio to an
:class:`AudioOutput`. Playout pacing lives in the graph (the playout node emits each frame at its
deadline on the session clock), so an output only forwards frames it is handed (a room track's
``AudioSource``, a speaker, a WAV file, a list in a test) and drops what it has buffered on
``clear()``. ``can_pause`` says whether a false interruption may pause and later resume the reply
instead of cutting it (LiveKit's room output can; a phone line may not). Transcriptions of the
agent (in sync with playout) and of the user go to a :class:`TextOutput`. User text (a room's
chat) comes from a :class:`TextInput`: each text interrupts the agent and is a user turn. A
:class:`VideoInput` (a room participant's camera) gives the latest frame as an image to attach
to a user turn.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from flowagents.llm import ImageContent
from flowagents.types import AudioFrame

__all__ = ["AudioInput", "AudioOutput", "SessionIO", "TextInput", "TextOutput",
           "TranscriptionSegment", "VideoInput"]


class AudioInput(ABC):
    """User audio as frames on the session clock; ending the iteration ends the input.

    An input driven by callbacks (a timer, an audio device) may also offer :meth:`push_to`: the
    session then takes frames as they come instead of iterating, which spares a task step and a
    loop iteration per frame (every 10-20 ms of every session)."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[AudioFrame]: ...

    def push_to(self, on_frame: Callable[[AudioFrame], None],
                on_end: Callable[[BaseException | None], None]) -> Callable[[], None] | None:
        """Call ``on_frame`` with each frame on the loop thread, then ``on_end`` once (with the
        error, if the input failed or ``on_frame`` raised); return what stops it. None: this
        input is only iterated (the default)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Stop reading (release the device or track)."""


class AudioOutput(ABC):
    """A sink for the agent's audio, already paced by the graph's playout."""

    can_pause: bool = True
    sample_rate: int | None = None  # None: any rate is accepted as is

    @abstractmethod
    def capture(self, frame: AudioFrame) -> None:
        """Play ``frame`` now (it is due); must not block."""

    def clear(self) -> None:  # noqa: B027 (optional hook)
        """Drop audio buffered downstream (an interruption)."""

    def flush(self) -> None:  # noqa: B027 (optional hook)
        """The current segment has ended."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Release the device or track."""


@dataclass(frozen=True, slots=True)
class TranscriptionSegment:
    """Text of the user or the agent; the agent's is sent as it is played."""

    id: str
    text: str  # the delta to append to the segment
    participant: str  # "user" or "agent"
    final: bool = False
    timestamp: float = 0.0


class TextOutput(ABC):
    @abstractmethod
    def capture(self, segment: TranscriptionSegment) -> None:
        """Publish a piece of transcription (must not block)."""


class TextInput(ABC):
    """User text messages (a chat box); ending the iteration ends the input."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Stop reading."""


class VideoInput(ABC):
    """The user's camera, sampled on demand (the newest frame, not a stream)."""

    @abstractmethod
    async def capture_image(self) -> ImageContent | None:
        """The newest frame as an image for the LLM (None when there is none yet)."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Release the track."""


@dataclass(slots=True)
class SessionIO:
    """The inputs and outputs a session runs on; any may be absent (text-only, audio-only)."""

    audio_input: AudioInput | None = None
    audio_output: AudioOutput | None = None
    text_output: TextOutput | None = None
    text_input: TextInput | None = None
    video_input: VideoInput | None = None
