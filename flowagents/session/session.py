"""AgentSession: the user-facing voice session over a voice graph (LiveKit Agents' API).

``await session.start(agent=..., io=SessionIO(...))`` instantiates the graph for this job (the
default one from :func:`graphs.voice.voice_graph`, or ``graph=``), feeds it the user's audio and
the session's requests (``say``, ``generate_reply``), typed turns, interrupts and agent changes,
and turns its outputs into state, history, events and audio output calls. Every decision (turns,
interruptions, replies, tools, handoffs, the chat context) is made in the graph; the session
makes none.

Events (``session.on(name, callback)``, or all of them as ``session.events``):
``agent_state_changed``, ``user_state_changed``, ``user_input_transcribed``,
``conversation_item_added``, ``function_tools_executed``, ``agent_false_interruption``,
``metrics_collected``, ``speech_created``, ``error``, ``close``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from reactivex.disposable import CompositeDisposable

from flowagents.errors import NOT_GIVEN, NotGiven
from flowagents.graph import Graph
from flowagents.llm import LLM, ChatContext, ChatMessage, ImageContent, ToolChoice
from flowagents.llm.realtime import RealtimeModel
from flowagents.llm.tool_context import current_run_context
from flowagents.metrics import AgentMetrics, UsageSummary
from flowagents.runtime import GraphRuntime, LoopScheduler
from flowagents.runtime.gc_freeze import hold_frozen
from flowagents.runtime.stats import STATS_RESOURCE
from flowagents.stt import STT
from flowagents.tts import TTS
from flowagents.vad import VAD
from flowagents.voice.agent import Agent
from flowagents.voice.context import ContextBuilder
from flowagents.voice.events import AgentState, CloseEvent, CloseReason, SpeechSource, UserState
from flowagents.voice.io import SessionIO
from flowagents.voice.options import SessionOptions
from flowagents.voice.signals import PlayoutControl
from flowagents.voice.speech import Speech, SpeechHandle
from flowagents.voice.turn_detector import TurnDetector
from flowagents.voice.turns import UserTurn

from .descriptors import TurnDetectionMode, check_turn_detection, check_turn_mode, resolve
from .emitter import EventEmitter
from .feeds import RoomLink, RoomOpener, feed_audio, feed_text
from .inspect import INSPECTOR
from .manual import ManualTurns
from .outputs import GraphOutputs
from .recording import SessionRecorder, default_record_path

__all__ = ["AgentSession"]

logger = logging.getLogger("flowagents.voice")
_T = TypeVar("_T")


class AgentSession(EventEmitter):
    """A voice session: one agent at a time, talking with one user over one graph.

    Turn options are :class:`SessionOptions` fields, with LiveKit's names and defaults
    (``min_endpointing_delay=0.5``, ``allow_interruptions=True``, ...); ``turn_detection`` is a
    :class:`TurnDetector` (none by default: the end of speech ends the turn). The active agent may
    override them (see :class:`Agent`). ``attach_video`` attaches the newest frame of the I/O's
    video input to each user message. User text (``push_text``, ``io.text_input``) is a turn.
    ``record="session.jsonl"`` writes the conversation's events as JSON lines
    (:mod:`flowagents.session.recording`: for ``flowagents timeline`` and replays).

    Emits the events listed in the module docstring.
    """

    #: How ``start(room=...)`` joins a room's I/O: set by ``flowagents.job.room_io`` (the room
    #: layer sits above the session and plugs itself in; the session never imports it).
    room_opener: ClassVar[RoomOpener | None] = None

    def __init__(self, *, vad: VAD | str | None = None, stt: STT | str | None = None,
                 llm: LLM | RealtimeModel | str | None = None, tts: TTS | str | None = None,
                 graph: Graph | None = None, userdata: Any = None,
                 turn_detection: TurnDetector | TurnDetectionMode | None = None,
                 attach_video: bool = False, options: SessionOptions | None = None,
                 record: str | Path | SessionRecorder | None = None,
                 **turn_opts: Any) -> None:
        if options is not None and turn_opts:
            raise TypeError("pass either options= or turn options, not both")
        self.options = options or SessionOptions(**turn_opts)
        check_turn_detection(turn_detection, turn_detector_type=TurnDetector)
        #: "vad", "stt", "manual" or "realtime_llm" (LiveKit's modes); None with a detector
        self.turn_detection_mode: TurnDetectionMode | None = (
            turn_detection if isinstance(turn_detection, str) else None)
        self.turn_detection = turn_detection if isinstance(turn_detection, TurnDetector) else None
        self.attach_video = attach_video
        for kind, given in (("vad", vad), ("stt", stt), ("llm", llm), ("tts", tts)):
            if isinstance(given, type):  # the usual slip: SileroVAD for SileroVAD()
                raise TypeError(f"AgentSession({kind}=...) takes a provider instance: "
                                f"{given.__name__}(), not the class")
        self.vad = resolve("vad", vad) if isinstance(vad, str) else vad
        if self.vad is not None:
            self.vad = _with_session_options(self.vad, self.options)
        self.stt = resolve("stt", stt) if isinstance(stt, str) else stt
        self.llm = resolve("llm", llm) if isinstance(llm, str) else llm
        self.tts = resolve("tts", tts) if isinstance(tts, str) else tts
        check_turn_mode(self.turn_detection_mode,
                        realtime=isinstance(self.llm, RealtimeModel) and self.stt is None
                        and self.tts is None, realtime_llm=isinstance(self.llm, RealtimeModel))
        self._manual = ManualTurns() if self.turn_detection_mode == "manual" else None
        self._stopped = False
        self._started_on: tuple[Any, SessionIO | None] = (None, None)
        self.userdata = userdata
        self._graph = graph
        super().__init__(self._spawn)
        self._out = GraphOutputs(self._emit, self.now)
        self._speeches = self._out.speeches
        self._room_io: RoomLink | None = None
        self._runtime: GraphRuntime | None = None
        self._unfreeze: Callable[[], None] = lambda: None  # start() holds the gc freeze
        self._io = SessionIO()
        self._subscriptions = CompositeDisposable()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._context = ContextBuilder()
        self._started = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # record=: the session's events as JSON lines (flowagents.session.recording)
        record = record if record is not None else default_record_path()
        self._recorder = (record if isinstance(record, SessionRecorder) or record is None
                          else SessionRecorder(record))

    # -- read-only state -------------------------------------------------------------------
    @property
    def agent_state(self) -> AgentState:
        return self._out.agent_state

    @property
    def user_state(self) -> UserState:
        return self._out.user_state

    @property
    def history(self) -> ChatContext:
        """Everything said and done in this session, in order (the live context, not a copy)."""
        return self._out.history

    @property
    def current_agent(self) -> Agent:
        if self._out.active is None:
            raise RuntimeError("the session has not started")
        return self._out.active.agent

    @property
    def current_speech(self) -> SpeechHandle | None:
        return next((s for s in self._speeches if not s.done()), None)

    @property
    def runtime(self) -> GraphRuntime:
        if self._runtime is None:
            raise RuntimeError("the session has not started")
        return self._runtime

    def usage(self) -> UsageSummary:
        return self._out.usage.get_summary()

    def now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    # -- life ------------------------------------------------------------------------------
    async def start(self, agent: Agent, *, io: SessionIO | None = None, room: Any = None,
                    room_options: Mapping[str, Any] | None = None,
                    room_input_options: Any = None, room_output_options: Any = None) -> None:
        """Run ``agent`` on ``io``, or in a LiveKit ``room`` (``rtc.Room``): the linked
        participant's microphone, camera (for ``capture_image``/``attach_video``) and ``lk.chat``
        text in, the agent's audio and transcriptions out (``room_options`` go to
        :func:`flowagents.job.room_io.room_session_io`; ``room_input_options`` and
        ``room_output_options`` are LiveKit's ``RoomInputOptions``/``RoomOutputOptions``). When
        that participant leaves or the room disconnects, the session closes (``close`` with
        ``participant_disconnected``). After :meth:`stop`, ``start(agent=...)`` hands the
        running session (history, graph, room) to ``agent``."""
        _require_agent(agent, "AgentSession.start(agent=...)")
        if room is not None and io is not None:
            raise TypeError("pass room= or io=, not both")
        if self._started:
            await self._restart(agent, room, io)
            return
        self._started = True
        self._started_on = (room, io)
        if room_input_options is not None or room_output_options is not None:
            room_options = {**(room_options or {}), "input_options": room_input_options,
                            "output_options": room_output_options}
        self._loop = loop = asyncio.get_running_loop()
        if room is not None:
            io = await self._open_room(room, room_options or {})
        self._io = io or SessionIO()
        runtime = GraphRuntime(self._graph or self._default_graph(), scheduler=LoopScheduler(loop),
                               loop=loop, resources={
                                   "report_metrics": self._out.report_metrics, "vad": self.vad,
                                   "stt": self.stt, "llm": self.llm, "tts": self.tts,
                                   "video": self._io.video_input})
        stats = INSPECTOR.watch(self)  # per-node counters for the live graph view, when on
        if stats is not None:
            runtime.add_resource(STATS_RESOURCE, stats)
        self._runtime = runtime
        runtime.start()
        if self._recorder is not None:
            self._recorder.attach(self, runtime)
        self._subscriptions.add(self._out.connect(runtime, self._io))
        if self._manual is not None:
            self._subscriptions.add(
                runtime.output("user_transcripts").subscribe(self._manual.on_transcript))
        agent._session = self
        runtime.push("agents", agent)
        if self._io.audio_input is not None:
            self._spawn(feed_audio(self._io.audio_input, runtime.input("audio")))
        if self._io.text_input is not None:
            self._spawn(feed_text(self._io.text_input, self.push_text))
        if self._room_io is not None:
            self._spawn(self._watch_room(self._room_io))
        # the graph just built thousands of long-lived objects: out of the collector's reach
        # until the session closes (with hundreds of sessions, a full collection stalls)
        self._unfreeze = hold_frozen()

    async def stop(self) -> None:
        """Stop the current agent and keep the session for the next one (LiveKit code calls
        ``await session.stop()`` then ``await session.start(agent=...)`` to switch agents; the
        history, the graph and the room stay). What the agent is saying or about to say is
        interrupted, except the reply whose tool is calling ``stop()``: that tool round
        finishes and is recorded. Until ``start`` the agent that stopped still answers."""
        if not self._started or self._closed:
            raise RuntimeError("stop() needs a running session")
        self._stopped = True
        context = current_run_context()
        caller = context.speech_handle if context is not None else None
        others = [h for h in self._speeches if h is not caller and not h.done()]
        for handle in others:
            handle.interrupt(force=True)
        await asyncio.gather(*(h.wait_for_playout() for h in others))

    async def _restart(self, agent: Agent, room: Any, io: SessionIO | None) -> None:
        if not self._stopped:
            raise RuntimeError("a session starts once; stop() it to start another agent")
        if self._closed:
            raise RuntimeError("the session is closed")
        if (room, io) != (None, None) and (room, io) != self._started_on:
            raise RuntimeError("a stopped session starts again on the room or I/O it ran on")
        self._stopped = False
        self.update_agent(agent)

    async def _open_room(self, room: Any, options: Mapping[str, Any]) -> SessionIO:
        opener = AgentSession.room_opener
        if opener is None:
            raise RuntimeError("start(room=...) needs the room I/O of flowagents.job: "
                               "import flowagents.job (a JobContext's room does)")
        self._room_io = await opener(self, room, options)
        return self._room_io.io

    async def _watch_room(self, room_io: RoomLink) -> None:
        reason = await asyncio.shield(room_io.closed)
        if reason != "closed":
            logger.info("the linked participant left, closing", extra={"reason": reason})
            await self.aclose(CloseReason.PARTICIPANT_DISCONNECTED)

    def _default_graph(self) -> Graph:
        from graphs.default import default_graph

        out = self._io.audio_output
        return default_graph(vad=self.vad, stt=self.stt, llm=self.llm, tts=self.tts,
                             options=self.options,
                             can_pause=out.can_pause if out is not None else True,
                             turn_detection=self.turn_detection, attach_video=self.attach_video,
                             turn_mode=self.turn_detection_mode)

    def _spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait until every speech created so far has played out."""
        while True:
            pending = [s for s in self._speeches if not s.done()]
            if not pending:
                return
            await asyncio.gather(*(s.wait_for_playout() for s in pending))

    async def aclose(self, reason: CloseReason = CloseReason.USER_INITIATED,
                     error: BaseException | None = None) -> None:
        """Interrupt what is playing, stop the graph, cancel every task, emit ``close``."""
        if self._closed:
            return
        self._closed = True
        for handle in list(self._speeches):
            if not handle.done():
                handle.interrupt(force=True)
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._subscriptions.dispose()
        if self._runtime is not None:
            self._runtime.close()
        self._unfreeze()
        await asyncio.sleep(0)  # let cancelled bridge tasks clean up
        if self._room_io is not None:
            await self._room_io.aclose()  # every part of the room's I/O
        else:
            for source in (self._io.audio_input, self._io.audio_output, self._io.text_input,
                           self._io.video_input):
                if source is not None:
                    await source.aclose()
        self._emit(CloseEvent(reason, self.now() if self._loop else 0.0, error))
        self._events.on_completed()
        if self._recorder is not None:
            self._recorder.close()

    # -- inputs: what the user and the app ask for -------------------------------------------
    def _request(self, source: SpeechSource, allow: bool | NotGiven, **fields: Any
                 ) -> SpeechHandle:
        active = self._out.active
        if isinstance(allow, NotGiven):
            allow = (active.options.allow_interruptions if active is not None
                     else self.options.allow_interruptions)
        handle = SpeechHandle(allow_interruptions=allow, source=source, user_initiated=True)
        speech = Speech(handle, self.current_agent, created_at=self.now(), **fields)
        self._out.register(speech)
        self.runtime.push("requests", speech)
        return handle

    def say(self, text: str | AsyncIterable[str], *,
            allow_interruptions: bool | NotGiven = NOT_GIVEN,
            add_to_chat_ctx: bool = True) -> SpeechHandle:
        """Speak ``text`` (queued after what is already playing)."""
        if not isinstance(text, str) and not hasattr(text, "__aiter__"):
            raise TypeError(f"AgentSession.say takes a str or an async iterable of str, not "
                            f"{type(text).__name__}")
        return self._request("say", allow_interruptions, say_text=text,
                             add_to_chat_ctx=add_to_chat_ctx)

    def generate_reply(self, *, user_input: str | NotGiven = NOT_GIVEN,
                       instructions: str | NotGiven = NOT_GIVEN,
                       tool_choice: ToolChoice | NotGiven = NOT_GIVEN,
                       allow_interruptions: bool | NotGiven = NOT_GIVEN) -> SpeechHandle:
        """Ask the LLM for a reply (to ``user_input``, recorded as a user message, if given)."""
        for name, value in (("user_input", user_input), ("instructions", instructions)):
            if not isinstance(value, str | NotGiven):
                raise TypeError(f"AgentSession.generate_reply({name}=...) takes a str, not "
                                f"{type(value).__name__}")
        if not isinstance(user_input, NotGiven):
            self.runtime.push("messages", ChatMessage(role="user", content=[user_input],
                                                      created_at=self.now()))
        ctx = self._context.context(
            self.current_agent, None if isinstance(instructions, NotGiven) else instructions,
            self.now())
        return self._request("generate_reply", allow_interruptions, chat_ctx=ctx,
                             tool_choice="auto" if isinstance(tool_choice, NotGiven)
                             else tool_choice)

    def push_text(self, text: str) -> None:
        """A text message from the user (a chat box): a user turn like a spoken one (it
        supersedes what the agent is saying, ``on_user_turn_completed`` runs, the message
        enters the history)."""
        text = text.strip()
        if not self._closed and text:
            now = self.now()
            self.runtime.push("text", UserTurn(text, now, now, now, typed=True))

    def commit_user_turn(self) -> None:
        """``turn_detection="manual"``: the user's turn is over; answer what they said since
        the last commit (nothing said: nothing happens)."""
        if self._manual is None:
            raise RuntimeError("commit_user_turn() needs turn_detection='manual'")
        turn = self._manual.take(self.now())
        if turn is not None and not self._closed:
            self.runtime.push("text", turn)

    def clear_user_turn(self) -> None:
        """``turn_detection="manual"``: forget what the user said since the last commit."""
        if self._manual is None:
            raise RuntimeError("clear_user_turn() needs turn_detection='manual'")
        self._manual.clear()

    def interrupt(self) -> asyncio.Future[None]:
        """Interrupt every interruptible speech in flight or queued; resolves when they ended."""
        handles = [h for h in self._speeches if not h.done() and h.allow_interruptions]
        self.runtime.push("interrupts", PlayoutControl("interrupt_all", None, self.now()))

        async def wait() -> None:
            await asyncio.gather(*(h.wait_for_playout() for h in handles))

        return asyncio.ensure_future(wait())

    def update_agent(self, agent: Agent) -> None:
        """Hand the conversation to ``agent``: ``on_exit`` of the old, then ``on_enter``."""
        _require_agent(agent, "AgentSession.update_agent")
        agent._session = self
        self.runtime.push("agents", agent)

    async def capture_image(self) -> ImageContent | None:
        """The newest frame of the session's video input as an image (None without one); call
        it from ``on_user_turn_completed`` to show the LLM what the camera sees."""
        video = self._io.video_input
        return None if video is None else await video.capture_image()

    def report_metrics(self, metrics: AgentMetrics) -> None:
        self._out.report_metrics(metrics)

    def report_error(self, error: Exception, source: Any) -> None:
        self._out.report_error(error, source)


def _require_agent(agent: Any, where: str) -> None:
    """Refuse what is not an agent, naming the usual slip (the class for an instance)."""
    if isinstance(agent, Agent):
        return
    if isinstance(agent, type) and issubclass(agent, Agent):
        raise TypeError(f"{where} takes an Agent instance: {agent.__name__}(), not the class")
    raise TypeError(f"{where} takes an Agent instance, not {type(agent).__name__}")


_VAD_OPTIONS = {"min_speech_duration": "min_speech_duration",
                "min_silence_duration": "min_silence_duration",
                "activation_threshold": "activation_threshold", "pre_roll": "prefix_padding"}
"""Session options that are the VAD's (session name -> :class:`~flowagents.vad.VADOptions`)."""


def _with_session_options(vad: VAD, options: SessionOptions) -> VAD:
    """``vad`` hearing with the VAD options given to the session
    (``AgentSession(min_silence_duration=0.3)``); options not given keep the VAD's own."""
    changes = {field: getattr(options, name) for name, field in _VAD_OPTIONS.items()
               if name in options.model_fields_set
               and getattr(options, name) != getattr(vad.options, field)}
    return vad.with_options(**changes) if changes else vad
