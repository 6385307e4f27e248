"""``python agent.py console``: an agent file's entrypoint run locally, as LiveKit runs it.

The entrypoint gets a :class:`ConsoleJobContext` whose ``room`` is a :class:`ConsoleRoom`:
``ctx.connect()`` joins nothing, and ``session.start(room=ctx.room)`` runs the session on this
machine's microphone and speaker, on typed text (``--text``), or on WAV files (``--input``,
``--output``), the same three ways ``flowagents console`` talks (see
:mod:`flowagents.cli.console_cmd`). The providers are the ones the entrypoint builds (hosted
ones need their keys), the prewarm function runs first on a local :class:`JobProcess`, and
``get_job_context()`` works inside the entrypoint and its tools. When the input ends (or on
Ctrl-C) the job shuts down: its shutdown callbacks run and the session closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TextIO

import typer
from livekit.protocol import agent, models

from flowagents.cli.console_cmd import (
    ConsoleError,
    SessionWatch,
    _check_arguments,
    _lines,
    wait_quiet,
)
from flowagents.cli.loading import LoadError, Verbose, exit_with
from flowagents.job import JobContext, JobProcess
from flowagents.job.auto_subscribe import AutoSubscribe
from flowagents.session import AgentSession
from flowagents.voice import SessionIO

if TYPE_CHECKING:
    from flowagents.worker.options import WorkerOptions

    from .console_io import WavAudioInput, WavAudioOutput

__all__ = ["ConsoleJobContext", "ConsoleRoom", "ConsoleSettings", "run_console_job"]

Mode = Literal["device", "text", "wav"]


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How the console talks: ``mode`` and, for ``wav``, the files; ``timeout`` per reply."""

    mode: Mode = "device"
    input: Path | None = None
    output: Path | None = None
    timeout: float = 120.0


@dataclass
class _Link:
    """The session's "room" in console mode (the ``RoomLink`` a session expects)."""

    io: SessionIO
    closed: asyncio.Future[str]

    async def aclose(self) -> None:
        for part in (self.io.audio_input, self.io.audio_output, self.io.text_input):
            if part is not None:
                await part.aclose()
        if not self.closed.done():
            self.closed.set_result("closed")


@dataclass
class ConsoleRoom:
    """Stands in for ``rtc.Room`` in console mode: no participants, no events; a session
    started on it talks through the console's audio or text (see the module docstring)."""

    settings: ConsoleSettings
    out: TextIO = field(default_factory=lambda: sys.stdout)
    name: str = "console"
    remote_participants: dict[str, Any] = field(default_factory=dict)
    local_participant: Any = None
    sessions: list[AgentSession] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    mic: WavAudioInput | None = None
    speaker: WavAudioOutput | None = None

    def on(self, event: str, callback: Callable[..., Any] | None = None) -> Any:
        return callback if callback is not None else (lambda fn: fn)

    def off(self, event: str, callback: Callable[..., Any]) -> None:
        return None

    def isconnected(self) -> bool:
        return True

    async def disconnect(self) -> None:
        return None

    async def open(self, session: AgentSession) -> _Link:
        """The I/O of ``session`` on this console (the first session's; a restart reuses it)."""
        mode = self.settings.mode
        io = SessionIO()
        if mode == "wav":
            from .console_io import WavAudioInput, WavAudioOutput

            assert self.settings.input is not None
            try:
                self.mic = WavAudioInput(self.settings.input, autoplay=False)
            except ValueError as e:
                raise ConsoleError(str(e)) from None
            self.speaker = WavAudioOutput()
            io = SessionIO(audio_input=self.mic, audio_output=self.speaker)
        elif mode == "device":
            from .console_io import NoAudioDeviceError, open_device

            try:
                mic, speaker = open_device()
            except NoAudioDeviceError as e:
                raise ConsoleError(str(e)) from None
            io = SessionIO(audio_input=mic, audio_output=speaker)
        self.sessions.append(session)
        self.opened.set()
        return _Link(io, asyncio.get_running_loop().create_future())


class ConsoleJobContext(JobContext):
    """A job context with a :class:`ConsoleRoom`: ``connect()`` joins nothing."""

    def __init__(self, room: ConsoleRoom, proc: JobProcess) -> None:
        super().__init__(job=agent.Job(id="console", type=agent.JT_ROOM,
                                       room=models.Room(name=room.name)),
                         proc=proc, url="", token="")
        self._room = room  # type: ignore[assignment]

    async def connect(self, *, auto_subscribe: bool | AutoSubscribe = True) -> None:
        self._connected = True


def _install_opener() -> None:
    """``session.start(room=ConsoleRoom)`` opens the console; any other room goes on as before."""
    import flowagents.job  # noqa: F401 (installs the room opener this one wraps)

    previous = AgentSession.room_opener
    if getattr(previous, "console", False):
        return

    async def opener(session: AgentSession, room: Any, options: Mapping[str, Any]) -> Any:
        if isinstance(room, ConsoleRoom):
            return await room.open(session)
        if previous is None:
            raise RuntimeError("no room I/O installed")
        return await previous(session, room, options)

    opener.console = True  # type: ignore[attr-defined]
    AgentSession.room_opener = opener


async def _prewarm(opts: WorkerOptions, proc: JobProcess) -> None:
    if opts.prewarm_fnc is not None:
        result = opts.prewarm_fnc(proc)
        if inspect.isawaitable(result):
            await result


async def _entrypoint(opts: WorkerOptions, ctx: JobContext) -> None:
    """The user's entrypoint; its failure is one line (the traceback behind ``--verbose``)."""
    try:
        await opts.entrypoint_fnc(ctx)
    except (ConsoleError, asyncio.CancelledError):
        raise
    except Exception as e:
        raise ConsoleError(f"the entrypoint failed: {type(e).__name__}: {e}") from e


async def run_console_job(opts: WorkerOptions, settings: ConsoleSettings, *,
                          out: TextIO | None = None, stdin: TextIO | None = None) -> SessionWatch:
    """Run ``opts``' entrypoint on the console until its input ends (see the module docstring).

    Returns the watch of the session it ran (its transcript and per-turn timings)."""
    out = out or sys.stdout
    _install_opener()
    proc = JobProcess()
    await _prewarm(opts, proc)
    room = ConsoleRoom(settings, out)
    ctx = ConsoleJobContext(room, proc)
    token = ctx._bind()
    entry = asyncio.ensure_future(_entrypoint(opts, ctx))
    try:
        opened = asyncio.ensure_future(room.opened.wait())
        await asyncio.wait([entry, opened], return_when=asyncio.FIRST_COMPLETED)
        if not opened.done():
            opened.cancel()
            entry.result()  # the entrypoint's error, if it failed
            raise ConsoleError("the entrypoint returned without starting a session on ctx.room")
        session = room.sessions[0]
        watch = SessionWatch(session, out, room.speaker)
        while session._runtime is None:  # start() is building the graph
            if entry.done():
                entry.result()
            await asyncio.sleep(0)
        watch.attach()
        await _drive(room, watch, entry, settings, stdin or sys.stdin, out)
        return watch
    finally:
        if not entry.done():
            entry.cancel()
        await asyncio.gather(entry, return_exceptions=True)
        ctx.shutdown("console ended")
        await ctx._run_shutdown_callbacks(5.0)
        for session in room.sessions:
            await session.aclose()
            await _close_providers(session)
        if settings.output is not None and room.speaker is not None:
            room.speaker.save(settings.output)
            print(f"[wrote {room.speaker.duration:.1f} s of agent audio to {settings.output}]",
                  file=out, flush=True)
        _reset(token)


async def _close_providers(session: AgentSession) -> None:
    """The providers the entrypoint built end with the console's job (their HTTP sessions)."""
    for provider in (session.vad, session.stt, session.llm, session.tts):
        close = getattr(provider, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def _reset(token: Any) -> None:
    from flowagents.job.context import _current

    with contextlib.suppress(ValueError):
        _current.reset(token)


async def _drive(room: ConsoleRoom, watch: SessionWatch, entry: asyncio.Future[None],
                 settings: ConsoleSettings, stdin: TextIO, out: TextIO) -> None:
    """Talk to the session as the console user, after the entrypoint's own start-up (a
    greeting it awaits)."""
    limit = settings.timeout
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(entry), limit)
    if entry.done():
        entry.result()
    await wait_quiet(watch, hold=0.5, within=limit)
    session = watch.session
    if settings.mode == "text":
        async for line in _lines(stdin, out):
            text = line.strip()
            if text in ("/quit", "/exit"):
                break
            if not text:
                continue
            print(f"user: {text}", file=out, flush=True)
            handle = session.generate_reply(user_input=text)
            await asyncio.wait_for(handle.wait_for_playout(), limit)
            if not await wait_quiet(watch, hold=0.3, within=limit):
                raise ConsoleError("timed out waiting for the agent's reply (--timeout)")
    elif settings.mode == "wav":
        from flowagents.cli.console_cmd import _wait_answered

        mic = room.mic
        assert mic is not None
        print(f"[playing {settings.input} as the user: {mic.duration:.1f} s]", file=out,
              flush=True)
        mic.play()
        await _wait_answered(watch, mic, loop.time() + limit)
    else:
        print("[listening: speak into the microphone, Ctrl-C to stop]", file=out, flush=True)
        await asyncio.Event().wait()
    watch.print_timings(final=True)


def console_command(get_opts: Callable[[], WorkerOptions]) -> Callable[..., None]:
    """The ``console`` command of an agent file (``cli.run_app``)."""
    def console(
        text: Annotated[bool, typer.Option(
            "--text", help="Type the user's turns (stdin); print the replies.")] = False,
        input: Annotated[Path | None, typer.Option(  # noqa: A002 (the option's name)
            "--input", "-i", dir_okay=False,
            help="Play this WAV file as the user (real time), then exit.")] = None,
        output: Annotated[Path | None, typer.Option(
            "--output", "-o", dir_okay=False,
            help="Record the agent's audio to this WAV file (with --input).")] = None,
        timeout: Annotated[float, typer.Option(
            help="Give up after this many seconds per reply.")] = 120.0,
        verbose: Verbose = False,
    ) -> None:
        """Run the agent locally: microphone and speaker, --text, or WAV files (no server)."""
        try:
            _check_arguments(text, input, output)
            mode: Mode = "wav" if input is not None else "text" if text else "device"
            asyncio.run(run_console_job(get_opts(), ConsoleSettings(mode, input, output,
                                                                    timeout)))
        except LoadError as e:
            exit_with(e, verbose=verbose)
        except KeyboardInterrupt:
            pass

    return console
