"""Turn per-window speech probabilities into start / inference / end-of-speech events.

Every VAD model answers the same question per window ("how likely is this speech?"); deciding when
speech starts and ends from those answers is model-agnostic, so it lives here, pure and
unit-tested with synthetic probabilities, and each VAD provider only scores windows. The rules
follow LiveKit Agents' Silero plugin: speech starts after ``min_speech_duration`` of windows at or
above ``activation_threshold`` and ends after ``min_silence_duration`` of windows below the
(lower) deactivation threshold; both events are dated back to when the run began.
"""

from __future__ import annotations

from flowagents.types import VADEvent, VADEventType

from .vad import VADOptions

__all__ = ["SpeechDetector"]


class SpeechDetector:
    """A state machine over scored windows.

    Emits, per window, START_OF_SPEECH or END_OF_SPEECH when the state flips (dated back to the
    start of the run that flipped it) followed by INFERENCE_DONE (dated at the window's end).
    """

    __slots__ = (
        "_deactivation",
        "_end_time",
        "_options",
        "_silence_run",
        "_speaking",
        "_speech_run",
        "_speech_start",
    )

    def __init__(self, options: VADOptions, *, deactivation_threshold: float | None = None) -> None:
        self._options = options
        # Hysteresis: once speaking, a dip just under the activation threshold is still speech.
        self._deactivation = (
            deactivation_threshold if deactivation_threshold is not None
            else max(options.activation_threshold - 0.15, 0.01)
        )
        self._speaking = False
        self._speech_run = 0.0  # consecutive speech-like time (decides the start)
        self._silence_run = 0.0  # consecutive silence-like time (decides the end)
        self._speech_start = 0.0  # when the current speech segment began
        self._end_time: float | None = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def update(self, probability: float, end_time: float, duration: float) -> list[VADEvent]:
        """Account for one scored window of ``duration`` s ending at ``end_time``."""
        opts = self._options
        events: list[VADEvent] = []
        self._end_time = end_time
        threshold = self._deactivation if self._speaking else opts.activation_threshold
        if probability >= threshold:
            self._speech_run += duration
            self._silence_run = 0.0
            if not self._speaking and self._speech_run >= opts.min_speech_duration:
                self._speaking = True
                self._speech_start = end_time - self._speech_run
                events.append(VADEvent(
                    VADEventType.START_OF_SPEECH, self._speech_start, probability,
                    speech_duration=self._speech_run, speaking=True,
                ))
        else:
            self._silence_run += duration
            self._speech_run = 0.0
            if self._speaking and self._silence_run >= opts.min_silence_duration:
                events.append(self._end_event(probability))
        events.append(VADEvent(
            VADEventType.INFERENCE_DONE, end_time, probability,
            speech_duration=(end_time - self._speech_start) if self._speaking else 0.0,
            silence_duration=self._silence_run, speaking=self._speaking,
        ))
        return events

    def flush(self) -> list[VADEvent]:
        """Close a segment still open when the input ends (dated where its silence began)."""
        if not self._speaking:
            return []
        return [self._end_event(0.0)]

    def reset(self) -> None:
        self._speaking = False
        self._speech_run = self._silence_run = self._speech_start = 0.0
        self._end_time = None

    def _end_event(self, probability: float) -> VADEvent:
        end_time = self._end_time if self._end_time is not None else 0.0
        silence_start = end_time - self._silence_run
        self._speaking = False
        event = VADEvent(
            VADEventType.END_OF_SPEECH, silence_start, probability,
            speech_duration=silence_start - self._speech_start,
            silence_duration=self._silence_run, speaking=False,
        )
        self._speech_run = 0.0
        return event
