"""Endpointing: decide when the user's turn is over, by debouncing the end of their speech.

The agent should answer when the user is done, not at every breath. LiveKit Agents' rule, which
this module implements as one operator: when the user stops speaking (the VAD's END_OF_SPEECH,
dated back to when speech really ended), wait ``min_delay`` (0.5 s); if a turn detector says the
user is probably not done (its latest end-of-turn probability is below ``unlikely_threshold``),
wait ``max_delay`` (3.0 s) instead. With a ``likely_threshold`` above ``unlikely_threshold`` (a
detector that can also say "unsure"), a probability between the two waits in between, linearly:
``max_delay`` at ``unlikely_threshold`` down to ``min_delay`` at ``likely_threshold`` (a
transcript that reads as finished but may be misheard need not wait as long as an unfinished
one, nor commit as fast as a sure one). Speech resuming before then cancels the pending commit
and the turn goes on. ``vad.pipe(endpointing(transcripts, scheduler=s))`` emits one
:class:`UserTurn` per turn. The commit is scheduled at an absolute time on the job's scheduler,
so it lands exactly at ``speech_end + delay`` (or at once when that moment has already passed).

Rules, in the order the code applies them:

* VAD START_OF_SPEECH (ignored while already speaking): the user speaks; a pending commit is
  cancelled; the turn's ``speech_start`` is the first START's (dated) timestamp. The turn
  detector's probability is forgotten (new speech needs a new prediction).
* VAD END_OF_SPEECH (ignored while not speaking): ``speech_end`` is its (dated) timestamp and the
  commit is scheduled at ``speech_end + delay``.
* A FINAL transcript with text joins the turn. While the user is not speaking it also schedules
  the commit (LiveKit's "final transcript while not speaking" trigger); when the VAD heard no
  speech in this turn, the transcript's arrival time (session clock) is when the user stopped.
  Interim transcripts and the STT's own start/end events are ignored: the VAD decides.
* An end-of-turn probability updates the delay of a pending commit (recomputed from
  ``speech_end``, never earlier than now). With ``wait_for_probability`` (default, when the
  probability input is connected) a turn with no probability yet waits up to ``max_delay`` for
  one, then commits when it arrives: LiveKit awaits its turn detector the same way. A START
  forgets the probability; one that arrives later still counts for the new speech, so a detector
  should drop predictions for outdated transcripts (switch-latest on its side).
* At the deadline a turn with no transcript text is noise: it is not committed (unless
  ``commit_without_transcript``, or no transcript input is connected). A final transcript that
  arrives later, before speech resumes, commits that turn at once, at its arrival (LiveKit waits
  for the transcript when none has arrived yet). If speech resumes first, the noise is dropped and
  a fresh turn starts.

* A new config (the optional ``config`` input: the active agent's delays, for LiveKit's per-agent
  overrides) applies from the next commit it schedules; a commit already pending keeps its time.

Each turn commits exactly once and never earlier than ``min_delay`` after the user stopped. After a
commit, a final transcript that arrives before any new speech starts a transcript-only turn.
The output completes once the VAD and transcript inputs have completed and any pending commit
has fired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, model_validator
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable

from flowagents.graph import BuildContext, In, Node, NodeConfig, Out
from flowagents.runtime.bridge import Dispose
from flowagents.runtime.scheduler import seconds
from flowagents.types import SpeechEvent, SpeechEventType, VADEvent, VADEventType
from flowagents.voice.options import default
from flowagents.voice.turns import UserTurn

__all__ = ["Endpointing", "EndpointingConfig", "UserTurn", "endpointing"]

_START = VADEventType.START_OF_SPEECH
_END = VADEventType.END_OF_SPEECH
_FINAL = SpeechEventType.FINAL_TRANSCRIPT




class EndpointingConfig(NodeConfig):
    """LiveKit Agents' endpointing options, with its defaults.

    ``unlikely_threshold`` 0.5 is a neutral default: LiveKit's turn-detector plugin uses
    per-language thresholds tuned to its model, so set it for the detector you connect.
    """

    min_delay: float = Field(default("min_endpointing_delay"), ge=0.0,
                             description="wait after the user stops (s)")
    max_delay: float = Field(default("max_endpointing_delay"), ge=0.0,
                             description="wait when the detector says 'not done'")
    unlikely_threshold: float = Field(0.5, ge=0.0, le=1.0,
                                      description="end-of-turn probability below which to wait")
    likely_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="probability from which to wait min_delay (None: unlikely_threshold); "
                    "in between, the wait scales from max_delay down to min_delay")
    wait_for_probability: bool = Field(
        True, description="with a detector connected, wait (up to max_delay) for its prediction")
    commit_without_transcript: bool = Field(
        False, description="commit turns that have no transcript text (else they are noise)")

    @model_validator(mode="after")
    def _ordered(self) -> EndpointingConfig:
        if self.max_delay < self.min_delay:
            raise ValueError("max_delay must be >= min_delay")
        if self.likely_threshold is not None and self.likely_threshold < self.unlikely_threshold:
            raise ValueError("likely_threshold must be >= unlikely_threshold")
        return self

    def delay(self, probability: float) -> float:
        """The wait after the user stopped for an end-of-turn ``probability`` (see the module
        docstring)."""
        low = self.unlikely_threshold
        if probability < low:
            return self.max_delay
        high = self.likely_threshold
        if high is None or probability >= high:
            return self.min_delay
        share = (probability - low) / (high - low)
        return self.max_delay - share * (self.max_delay - self.min_delay)


class _Turn:
    """The endpointing state machine of one subscription (see the module docstring)."""

    __slots__ = (
        "closing", "commit_empty", "cfg", "has_detector", "observer", "open_sources",
        "probability", "scheduler", "speaking", "speech_end", "speech_start", "texts", "timer",
        "vad_speech", "noise",
    )

    def __init__(self, observer: abc.ObserverBase[UserTurn], scheduler: abc.SchedulerBase,
                 cfg: EndpointingConfig, *, has_transcripts: bool, has_detector: bool) -> None:
        self.observer = observer
        self.scheduler = scheduler
        self.cfg = cfg
        self.commit_empty = cfg.commit_without_transcript or not has_transcripts
        self.has_detector = has_detector
        self.timer: abc.DisposableBase | None = None
        self.open_sources = 2 if has_transcripts else 1
        self.closing = False
        self.speaking = False
        self.probability: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.speech_start: float | None = None
        self.speech_end: float | None = None
        self.texts: list[SpeechEvent] = []
        self.vad_speech = False
        self.noise = False

    # -- inputs ------------------------------------------------------------------------------
    def on_vad(self, event: VADEvent) -> None:
        kind = event.type
        if kind is _START:
            if self.speaking:
                return
            self.speaking = True
            self.cancel()
            self.probability = None
            if self.noise:
                self._reset()
            if self.speech_start is None:
                self.speech_start = event.timestamp
            self.vad_speech = True
        elif kind is _END and self.speaking:
            self.speaking = False
            self.speech_end = event.timestamp
            self._schedule()

    def on_transcript(self, event: SpeechEvent) -> None:
        if event.type is not _FINAL or not event.text.strip():
            return
        self.texts.append(event)
        self.noise = False
        if self.speaking:
            return
        now = seconds(self.scheduler)
        if self.speech_start is None:
            self.speech_start = now
        if not self.vad_speech:
            self.speech_end = now
        self._schedule()

    def on_probability(self, probability: float) -> None:
        self.probability = probability
        if not self.speaking and self.timer is not None:
            self._schedule()

    def on_config(self, cfg: EndpointingConfig) -> None:
        self.cfg = cfg

    def on_completed(self) -> None:
        self.open_sources -= 1
        if self.open_sources == 0:
            if self.timer is None:
                self.observer.on_completed()
            else:
                self.closing = True

    # -- committing --------------------------------------------------------------------------
    def _delay(self) -> float:
        p = self.probability
        if p is None:
            waiting = self.has_detector and self.cfg.wait_for_probability
            return self.cfg.max_delay if waiting else self.cfg.min_delay
        return self.cfg.delay(p)

    def _schedule(self) -> None:
        assert self.speech_end is not None
        deadline = self.speech_end + self._delay()
        self.cancel()
        if deadline <= seconds(self.scheduler):
            self._fire()
        else:
            self.timer = self.scheduler.schedule_absolute(deadline, self._on_timer)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.dispose()
            self.timer = None

    def _on_timer(self, scheduler: abc.SchedulerBase, state: Any = None) -> None:
        self.timer = None
        self._fire()
        if self.closing:
            self.observer.on_completed()

    def _fire(self) -> None:
        if not self.texts and not self.commit_empty:
            self.noise = True
            return
        assert self.speech_start is not None
        assert self.speech_end is not None
        turn = UserTurn(
            " ".join(event.text.strip() for event in self.texts),
            self.speech_start, self.speech_end, seconds(self.scheduler), tuple(self.texts),
            self.probability,
        )
        self._reset()
        self.probability = None
        self.observer.on_next(turn)


def endpointing(
    transcripts: Observable[SpeechEvent] | None = None,
    end_of_turn_probability: Observable[float] | None = None,
    *,
    scheduler: abc.SchedulerBase,
    config: EndpointingConfig | None = None,
    configs: Observable[EndpointingConfig] | None = None,
    **options: Any,
) -> Callable[[Observable[VADEvent]], Observable[UserTurn]]:
    """Turn VAD events (plus optional final transcripts and turn-detector probabilities) into
    committed :class:`UserTurn` values, timed on ``scheduler``.

    Options are :class:`EndpointingConfig` fields (``min_delay=0.5``, ...), or pass ``config``;
    ``configs`` replaces the delays and threshold as it emits.
    Without a transcript input every turn is committed on the VAD alone.
    """
    cfg = config if config is not None else EndpointingConfig(**options)

    def _endpointing(vad: Observable[VADEvent]) -> Observable[UserTurn]:
        def subscribe(observer: abc.ObserverBase[UserTurn],
                      _: abc.SchedulerBase | None = None) -> abc.DisposableBase:
            turn = _Turn(observer, scheduler, cfg, has_transcripts=transcripts is not None,
                         has_detector=end_of_turn_probability is not None)
            subscriptions = CompositeDisposable(Dispose(turn.cancel))

            def on_error(exc: Exception) -> None:
                turn.cancel()
                observer.on_error(exc)

            if configs is not None:
                subscriptions.add(configs.subscribe(turn.on_config, on_error))
            if end_of_turn_probability is not None:
                subscriptions.add(end_of_turn_probability.subscribe(turn.on_probability, on_error))
            if transcripts is not None:
                subscriptions.add(
                    transcripts.subscribe(turn.on_transcript, on_error, turn.on_completed))
            subscriptions.add(vad.subscribe(turn.on_vad, on_error, turn.on_completed))
            return subscriptions

        return Observable(subscribe)

    return _endpointing


class Endpointing(Node):
    """End of turn by debounce (see :func:`endpointing`).

    Inputs: ``vad`` (required), ``transcripts``, ``end_of_turn_probability`` and ``config``
    (optional: a new config replaces this node's for the commits scheduled after it).
    Emits one :class:`UserTurn` per committed turn on ``turns``.
    """

    Config = EndpointingConfig
    inputs = (
        In("vad", VADEvent, doc="speech ended"),
        In("transcripts", SpeechEvent, required=False, doc="final transcript"),
        In("end_of_turn_probability", float, required=False, doc="end-of-turn probability"),
        In("config", EndpointingConfig, required=False, doc="endpointing delays"),
    )
    outputs = (Out("turns", UserTurn, doc="turn committed"),)
    reads = ("min_endpointing_delay", "max_endpointing_delay")

    def build(self, ctx: BuildContext,
              inputs: Mapping[str, Observable[Any]]) -> Mapping[str, Observable[Any]]:
        cfg = self.config
        assert isinstance(cfg, EndpointingConfig)
        op = endpointing(inputs.get("transcripts"), inputs.get("end_of_turn_probability"),
                         scheduler=ctx.scheduler, config=cfg, configs=inputs.get("config"))
        return {"turns": inputs["vad"].pipe(op)}
