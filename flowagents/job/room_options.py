"""``RoomInputOptions`` and ``RoomOutputOptions``: how ``session.start(room=...)`` uses the room.

LiveKit Agents' names and the fields its users set most: which participant to listen to, whether
to take their audio, video and ``lk.chat`` text, the sample rates, and whether to publish the
agent's audio and transcriptions. ``AgentSession.start(room_input_options=...,
room_output_options=...)`` hands them to :func:`room_io_kwargs`, which turns them into the
arguments of :class:`flowagents.job.room_io.RoomIO`; a field we cannot honour is rejected here,
when the options are built, not silently ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RoomInputOptions", "RoomOutputOptions", "disabled_parts", "room_io_kwargs"]


class RoomInputOptions(BaseModel):
    """What the session takes from the room (LiveKit's defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text_enabled: bool = True
    audio_enabled: bool = True
    video_enabled: bool = False
    audio_sample_rate: int = Field(24000, gt=0)
    audio_num_channels: int = Field(1, ge=1, le=2)
    participant_identity: str | None = None
    close_on_disconnect: bool = True


class RoomOutputOptions(BaseModel):
    """What the session puts into the room (LiveKit's defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transcription_enabled: bool = True
    audio_enabled: bool = True
    audio_sample_rate: int = Field(24000, gt=0)
    audio_num_channels: int = Field(1, ge=1, le=2)


def room_io_kwargs(input_options: RoomInputOptions | None,
                   output_options: RoomOutputOptions | None) -> dict[str, Any]:
    """The :class:`~flowagents.job.room_io.RoomIO` arguments for these options.

    The session's graph resamples whatever rate comes in, so the input is read at 16 kHz (what
    the VAD and STT take) whatever ``audio_sample_rate`` says; the output track is published at
    the output options' rate.
    """
    i = input_options or RoomInputOptions()
    o = output_options or RoomOutputOptions()
    return {"participant_identity": i.participant_identity, "video": i.video_enabled,
            "output_sample_rate": o.audio_sample_rate, "num_channels": o.audio_num_channels}


def disabled_parts(input_options: RoomInputOptions | None,
                   output_options: RoomOutputOptions | None) -> set[str]:
    """The parts of the room's I/O these options switch off: ``audio_input``, ``text_input``,
    ``audio_output``, ``text_output`` (the transcriptions)."""
    i = input_options or RoomInputOptions()
    o = output_options or RoomOutputOptions()
    return {name for name, on in (("audio_input", i.audio_enabled),
                                  ("text_input", i.text_enabled),
                                  ("audio_output", o.audio_enabled),
                                  ("text_output", o.transcription_enabled)) if not on}
