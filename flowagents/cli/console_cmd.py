"""``flowagents console AGENT_FILE``: talk to an agent locally, on the offline models.

Three ways to talk, no LiveKit server needed:

* microphone and speaker (the default; ``sounddevice``, with a clear error when the machine has
  no audio device);
* ``--text``: type the user's turns (or pipe them on stdin), the agent's replies are printed;
* ``--input question.wav --output reply.wav`` (headless): the WAV file is played as the user **in
  real time** after the agent's greeting (see :mod:`flowagents.cli.console_io` for why), the
  agent's audio is recorded to the output WAV, and the command exits once the input has ended
  and the agent has answered (or after ``--timeout``).

It prints a progress line per model while the four offline models load (in parallel), the live
transcript, and after each user turn a latency breakdown from the session's
``metrics_collected`` events: end of utterance (end of speech to turn committed), STT (end of
speech to final transcript), LLM time to first token, TTS time to first byte, and the total from
the end of the user's speech to the agent's first audio (also counted from the moment the VAD's
silence wait ended, the figure the latency goal is about).

**How the agent file is loaded** (the examples in ``examples/`` follow it): the file (a path, or
a dotted module name) may define

* ``create_agent() -> Agent``: the agent to start; without it, the file must define exactly one
  ``Agent`` subclass that takes no arguments;
* ``create_session(providers: LocalProviders) -> AgentSession``: the session on the loaded
  offline providers (options, userdata); without it, ``AgentSession(**providers.session_kwargs())``.

The worker's ``entrypoint`` is not run: the console has no room.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import stat
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, TextIO, TypeVar

import typer

from .loading import LoadError, Verbose, exit_with, import_target, split_target, user_frame

if TYPE_CHECKING:
    from flowagents.plugins.local import LocalProviders
    from flowagents.session import AgentSession
    from flowagents.voice import Agent

    from .console_io import WavAudioInput, WavAudioOutput

__all__ = ["ConsoleError", "TurnTimings", "console", "load_agent_app", "register"]


class ConsoleError(LoadError):
    """A console run cannot go on (bad agent file, no device, unreadable WAV, timeout)."""


_R = TypeVar("_R")


# -- loading the agent file ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentApp:
    """What the console runs: how to build the session and the first agent."""

    module: ModuleType
    create_agent: Callable[[], Agent]
    create_session: Callable[[LocalProviders], AgentSession]


def load_agent_app(target: str) -> AgentApp:
    """Import ``target`` and find its agent and session factories (see the module docstring)."""
    from flowagents.session import AgentSession
    from flowagents.voice import Agent

    module_name, attr = split_target(target)
    if attr:
        raise ConsoleError(f"console takes the agent file or module alone ({module_name}), not "
                           f":{attr}: it finds create_agent() or the one Agent subclass itself")
    module = import_target(target)
    create_agent = getattr(module, "create_agent", None)
    if create_agent is None:
        agents = [obj for obj in vars(module).values()
                  if inspect.isclass(obj) and issubclass(obj, Agent) and obj is not Agent
                  and obj.__module__ == module.__name__]
        if len(agents) != 1:
            found = ", ".join(a.__name__ for a in agents) or "none"
            raise ConsoleError(
                f"{target} must define create_agent() or exactly one Agent subclass "
                f"(found: {found})")
        create_agent = agents[0]
    create_session = getattr(module, "create_session", None)
    if create_session is None:
        def create_session(providers: LocalProviders) -> AgentSession:
            return AgentSession(**providers.session_kwargs())
    return AgentApp(module, _as_user_code(create_agent, f"{target}: create_agent()"),
                    _as_user_code(create_session, f"{target}: create_session()"))


def _as_user_code(fn: Callable[..., _R], what: str) -> Callable[..., _R]:
    """``fn`` with an exception it raises turned into a one-line ConsoleError naming where."""

    def call(*args: Any) -> _R:
        try:
            return fn(*args)
        except Exception as e:
            where = user_frame(e.__traceback__)
            at = f" (at {where})" if where else ""
            raise ConsoleError(f"{what} failed: {type(e).__name__}: {e}{at}") from e

    return call


def load_providers(out: TextIO, *, tts: bool = True) -> LocalProviders:
    """The offline models, loaded in parallel, with one progress line per model (``tts``:
    Piper too; a text conversation needs no voice)."""
    from flowagents.plugins.local import MODEL_NAMES, local_providers

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    names = [name for role, name in MODEL_NAMES.items() if tts or role != "tts"]
    print(f"loading offline models ({', '.join(names)})...", file=out, flush=True)

    def loaded(role: str, seconds: float) -> None:
        print(f"  {MODEL_NAMES[role]} ready in {seconds:.2f} s", file=out, flush=True)

    providers = local_providers(on_loaded=loaded, tts=tts)
    print(f"models loaded in {time.perf_counter() - started:.2f} s", file=out, flush=True)
    return providers


# -- per-turn timings ------------------------------------------------------------------------
@dataclass(slots=True)
class TurnTimings:
    """One user turn's latency breakdown, in seconds (``None``: not measured)."""

    speech_id: str
    committed_at: float = 0.0
    speech_end: float | None = None  # when the user stopped (the VAD's end, dated back)
    vad_end_at: float | None = None  # when the VAD said so (after its silence wait)
    end_of_utterance: float | None = None  # end of speech -> turn committed
    stt: float | None = None  # end of speech -> final transcript
    llm_ttft: float | None = None
    tts_ttfb: float | None = None
    first_audio_at: float | None = None

    @property
    def total(self) -> float | None:
        """End of the user's speech -> the agent's first audio."""
        if self.first_audio_at is None or self.speech_end is None:
            return None
        return self.first_audio_at - self.speech_end

    @property
    def after_vad(self) -> float | None:
        """The VAD's end of speech (after its silence wait) -> the agent's first audio."""
        if self.first_audio_at is None or self.vad_end_at is None:
            return None
        return self.first_audio_at - self.vad_end_at

    def line(self, n: int) -> str:
        def s(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f} s"

        return (f"turn {n} latency: end of utterance {s(self.end_of_utterance)} | "
                f"STT {s(self.stt)} | LLM first token {s(self.llm_ttft)} | "
                f"TTS first byte {s(self.tts_ttfb)} | total to first audio {s(self.total)} "
                f"({s(self.after_vad)} after the VAD's silence wait)")


@dataclass(slots=True)
class TextTurn:
    """One typed turn's latency, in seconds on the session clock (``None``: not measured)."""

    sent_at: float
    llm_ttft: float | None = None
    shown_at: float | None = None  # the reply's first text shown
    done_at: float | None = None  # the reply complete (its tool rounds included)

    def line(self, n: int) -> str:
        def s(v: float | None) -> str:
            return "-" if v is None else f"{v - self.sent_at:.2f} s"

        ttft = "-" if self.llm_ttft is None else f"{self.llm_ttft:.2f} s"
        return (f"turn {n} latency: LLM first token {ttft} | first text {s(self.shown_at)} | "
                f"whole reply {s(self.done_at)}")


@dataclass
class SessionWatch:
    """Follows a running session: prints the transcript, collects per-turn timings."""

    session: AgentSession
    out: TextIO
    output: WavAudioOutput | None = None
    turns: list[TurnTimings] = field(default_factory=list)
    replies: int = 0
    _vad_ends: list[tuple[float, float]] = field(default_factory=list)  # (timestamp, arrival)
    _printed: int = 0
    _by_speech: dict[str, TurnTimings] = field(default_factory=dict)
    text_turns: dict[str, TextTurn] = field(default_factory=dict)  # typed turns by speech id
    text_done: int = 0

    def attach(self) -> None:
        from flowagents.types import VADEventType

        s = self.session
        s.on("user_input_transcribed", self._on_user)
        s.on("conversation_item_added", self._on_item)
        s.on("function_tools_executed", self._on_tools)
        s.on("metrics_collected", self._on_metrics)
        s.on("agent_state_changed", self._on_state)
        s.runtime.output("playback").subscribe(self._on_playback)
        s.on("error", lambda ev: self._say(f"[error] {type(ev.error).__name__}: {ev.error}"))

        def vad(event: Any) -> None:
            if event.type is VADEventType.END_OF_SPEECH:
                self._vad_ends.append((event.timestamp, s.now()))

        s.runtime.output("vad_events").subscribe(vad)

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _on_user(self, ev: Any) -> None:
        if ev.is_final:
            self._say(f"user: {ev.transcript}")

    def _on_item(self, ev: Any) -> None:
        item = ev.item
        if item.role == "assistant":
            self.replies += 1
            mark = " [interrupted]" if item.interrupted else ""
            self._say(f"agent: {item.text_content}{mark}")

    def _on_tools(self, ev: Any) -> None:
        for call, output in zip(ev.function_calls, ev.function_call_outputs, strict=True):
            result = "" if output is None else f" -> {output.output}"
            self._say(f"  [tool] {call.name}({call.arguments}){result}")

    def _on_metrics(self, ev: Any) -> None:
        from flowagents.metrics import EOUMetrics, LLMMetrics, TTSMetrics

        m = ev.metrics
        if isinstance(m, EOUMetrics) and m.speech_id:
            turn = TurnTimings(m.speech_id, m.timestamp,
                               end_of_utterance=m.end_of_utterance_delay,
                               stt=m.transcription_delay)
            ends = [e for e in self._vad_ends if e[1] <= m.timestamp]
            if ends:
                turn.speech_end, turn.vad_end_at = ends[-1]
            self.turns.append(turn)
            self._by_speech[m.speech_id] = turn
        elif isinstance(m, LLMMetrics):
            typed = self.text_turns.get(m.speech_id)
            if typed is not None and typed.llm_ttft is None and m.ttft >= 0:
                typed.llm_ttft = m.ttft
            known = self._by_speech.get(m.speech_id)
            if known is not None and known.llm_ttft is None and m.ttft >= 0:
                known.llm_ttft = m.ttft
        elif isinstance(m, TTSMetrics):
            known = self._by_speech.get(m.speech_id)
            if known is not None and known.tts_ttfb is None and m.ttfb >= 0:
                known.tts_ttfb = m.ttfb

    def _on_playback(self, event: Any) -> None:
        typed = self.text_turns.get(event.speech.id)
        if event.kind == "started" and typed is not None and typed.shown_at is None:
            typed.shown_at = event.time

    def _on_state(self, ev: Any) -> None:
        if ev.new_state == "speaking":
            now = self.session.now()
            for turn in self.turns:
                if turn.first_audio_at is None:
                    turn.first_audio_at = now
        elif ev.old_state == "speaking":
            self.print_timings()

    def print_timings(self, *, final: bool = False) -> None:
        """Print the turns measured so far (``final``: also those that got no audio)."""
        while self._printed < len(self.turns) and (
                final or self.turns[self._printed].first_audio_at is not None):
            self._printed += 1
            self._say(self.turns[self._printed - 1].line(self._printed))

    def settled(self) -> bool:
        """Every end of speech the VAD reported has been followed by a committed turn."""
        if not self._vad_ends:
            return True
        return bool(self.turns) and self._vad_ends[-1][1] <= self.turns[-1].committed_at

    def quiet(self) -> bool:
        s = self.session
        return (s.current_speech is None and s.user_state != "speaking"
                and s.agent_state in ("listening", "initializing"))


async def wait_quiet(watch: SessionWatch, hold: float, within: float) -> bool:
    """Wait until the session has been quiet for ``hold`` seconds; False after ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    since: float | None = None
    while loop.time() < deadline:
        now = loop.time()
        if watch.quiet():
            since = now if since is None else since
            if now - since >= hold:
                return True
        else:
            since = None
        await asyncio.sleep(0.05)
    return False


# -- the three modes -------------------------------------------------------------------------
async def run_wav(app: AgentApp, providers: LocalProviders, input_path: Path,
                  output_path: Path | None, *, limit: float, out: TextIO) -> SessionWatch:
    """Play ``input_path`` as the user after the greeting; record the agent to ``output_path``."""
    from flowagents.voice import SessionIO

    from .console_io import WavAudioInput, WavAudioOutput

    try:
        mic = WavAudioInput(input_path, autoplay=False)
    except ValueError as e:
        raise ConsoleError(str(e)) from None
    speaker = WavAudioOutput()
    session = app.create_session(providers)
    watch = SessionWatch(session, out, speaker)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    await session.start(agent=app.create_agent(),
                        io=SessionIO(audio_input=mic, audio_output=speaker))
    watch.attach()
    try:
        await wait_quiet(watch, hold=0.5, within=deadline - loop.time())  # the greeting
        print(f"[playing {input_path} as the user: {mic.duration:.1f} s]", file=out, flush=True)
        mic.play()
        await _wait_answered(watch, mic, deadline)
    finally:
        watch.print_timings(final=True)
        await session.aclose()
        if output_path is not None:
            try:
                speaker.save(output_path)
            except (OSError, RuntimeError) as e:  # checked up front; the disk may still fail
                raise ConsoleError(f"cannot write {output_path}: {e}") from None
            print(f"[wrote {speaker.duration:.1f} s of agent audio to {output_path}]",
                  file=out, flush=True)
    return watch


async def _wait_answered(watch: SessionWatch, mic: WavAudioInput, deadline: float) -> None:
    """After the input: every user turn committed and handled (replies played, tool rounds
    done), then 0.7 s of quiet. A turn the session dropped (noise) ends it after 5 s of quiet."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(mic.ended.wait(), max(0.0, deadline - loop.time()))
    except TimeoutError:
        raise ConsoleError("timed out while playing the input") from None
    quiet_since: float | None = None
    while (now := loop.time()) < deadline:
        if not watch.quiet():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        quiet_for = 0.0 if quiet_since is None else now - quiet_since
        if watch.turns:
            if (watch.settled() and quiet_for >= 0.7) or quiet_for >= 5.0:
                return
        elif quiet_for >= 10.0:
            raise ConsoleError("the agent heard no user turn in the input")
        await asyncio.sleep(0.05)
    raise ConsoleError("timed out waiting for the agent's reply (--timeout)")


async def run_text(app: AgentApp, providers: LocalProviders, *, limit: float,
                   out: TextIO, stdin: TextIO) -> SessionWatch:
    """Each line of ``stdin`` is a user turn; the agent's replies are printed."""
    session = app.create_session(providers)
    watch = SessionWatch(session, out)
    await session.start(agent=app.create_agent())
    watch.attach()
    try:
        await wait_quiet(watch, hold=0.3, within=limit)
        async for line in _lines(stdin, out):
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            print(f"user: {text}", file=out, flush=True)
            turn = TextTurn(session.now())
            handle = session.generate_reply(user_input=text)
            watch.text_turns[handle.id] = turn
            try:
                await asyncio.wait_for(handle.wait_for_playout(), limit)
            except TimeoutError:
                raise ConsoleError("timed out waiting for the agent's reply (--timeout)"
                                   ) from None
            turn.done_at = session.now()
            if not await wait_quiet(watch, hold=0.3, within=limit):
                raise ConsoleError("timed out waiting for the agent's reply (--timeout)")
            watch.text_done += 1
            print(turn.line(watch.text_done), file=out, flush=True)
    finally:
        await session.aclose()
    return watch


async def _lines(stdin: TextIO, out: TextIO) -> Any:
    """Lines of ``stdin`` without blocking the loop (a pipe or a terminal; a file is read)."""
    interactive = stdin.isatty()
    try:
        regular = stat.S_ISREG(os.fstat(stdin.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):  # not a real file (a StringIO)
        regular = True
    if regular:
        for line in stdin:
            yield line
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), stdin)
    try:
        while True:
            if interactive:
                print("> ", end="", file=out, flush=True)
            raw = await reader.readline()
            if not raw:
                return
            yield raw.decode(errors="replace")
    finally:
        transport.close()


async def run_device(app: AgentApp, providers: LocalProviders, *, out: TextIO) -> SessionWatch:
    """The default microphone and speaker, until Ctrl-C."""
    from flowagents.voice import SessionIO

    from .console_io import NoAudioDeviceError, open_device

    try:
        rate = providers.tts.sample_rate if providers.tts is not None else 24000
        mic, speaker = open_device(output_rate=rate)
    except NoAudioDeviceError as e:
        raise ConsoleError(str(e)) from None
    session = app.create_session(providers)
    watch = SessionWatch(session, out)
    await session.start(agent=app.create_agent(),
                        io=SessionIO(audio_input=mic, audio_output=speaker))
    watch.attach()
    print("[listening: speak into the microphone, Ctrl-C to stop]", file=out, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await session.aclose()
    return watch


# -- the command -----------------------------------------------------------------------------
def console(
    agent_file: Annotated[str, typer.Argument(
        help="The agent: a Python file (examples/minimal.py) or a module name.")],
    text: Annotated[bool, typer.Option(
        "--text", help="Type the user's turns (stdin); print the agent's replies (no TTS).")
    ] = False,
    input: Annotated[Path | None, typer.Option(  # noqa: A002 (the option's name)
        "--input", "-i", help="Play this WAV file as the user (real time), then exit.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Record the agent's audio to this WAV file (with --input).")
    ] = None,
    timeout: Annotated[float, typer.Option(
        help="Give up after this many seconds (--input, --text: per reply).")] = 120.0,
    verbose: Verbose = False,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Record the session's events as JSON lines to this .jsonl file (or "
        "one file per session in this directory); draw it with `flowagents timeline`.")
    ] = None,
    inspect_port: Annotated[int | None, typer.Option(
        "--inspect", help="Serve the live graph view (each node's values per second, last "
        "value, time spent) on this port: http://127.0.0.1:PORT/inspect")] = None,
) -> None:
    """Talk to an agent on this machine: microphone and speaker, --text, or WAV files."""
    if record is not None:
        from flowagents.session.recording import RECORD_ENV

        os.environ[RECORD_ENV] = str(record)
    try:
        _check_arguments(text, input, output)
        app = load_agent_app(agent_file)
        if input is None and not text:  # fail before loading models when there is no device
            _check_device()
        providers = load_providers(sys.stderr, tts=not text)
    except ImportError as e:  # a model package is missing: the message says what to install
        exit_with(LoadError(str(e)), verbose=verbose)
    except LoadError as e:
        exit_with(e, verbose=verbose)
    try:
        if input is not None:
            asyncio.run(_warm(run_wav(app, providers, input, output, limit=timeout,
                                      out=sys.stdout), providers, inspect_port))
        elif text:
            asyncio.run(_warm(run_text(app, providers, limit=timeout, out=sys.stdout,
                                       stdin=sys.stdin), providers, inspect_port))
        else:
            asyncio.run(_warm(run_device(app, providers, out=sys.stdout), providers,
                              inspect_port))
    except LoadError as e:
        exit_with(e, verbose=verbose)
    except KeyboardInterrupt:
        pass
    finally:
        asyncio.run(providers.aclose())


def _check_arguments(text: bool, input: Path | None,  # noqa: A002 (the option's name)
                     output: Path | None) -> None:
    """Refuse what would fail later, before any model loads: the WAV to play (readable audio,
    not empty) and the folder to write to."""
    if output is not None and input is None:
        raise ConsoleError("--output needs --input (the microphone mode plays the reply on the "
                           "speaker)")
    if text and input is not None:
        raise ConsoleError("choose one of --text and --input")
    if input is not None:
        if input.is_dir():
            raise ConsoleError(f"input {input} is a folder: give a WAV file")
        if not input.is_file():
            raise ConsoleError(f"input file {input} does not exist")
        import soundfile as sf

        try:
            info = sf.info(str(input))
        except (sf.LibsndfileError, RuntimeError):
            raise ConsoleError(f"input file {input} is not audio (a WAV, FLAC or OGG file)"
                               ) from None
        if info.frames == 0:
            raise ConsoleError(f"input file {input} has no audio (0 samples)")
    if output is not None:
        folder = output.parent
        if output.is_dir():
            raise ConsoleError(f"output {output} is a folder: give a file name (reply.wav)")
        if not folder.is_dir():
            raise ConsoleError(f"cannot write {output}: folder {str(folder)!r} does not exist")
        if not os.access(folder, os.W_OK):
            raise ConsoleError(f"cannot write {output}: folder {str(folder)!r} is not writable")
        if output.suffix.lower() != ".wav":
            raise ConsoleError(f"output {output} must be a .wav file")


def _check_device() -> None:
    from .console_io import NoAudioDeviceError, open_device

    try:
        mic, speaker = open_device()
    except NoAudioDeviceError as e:
        raise ConsoleError(str(e)) from None
    asyncio.run(_close_devices(mic, speaker))


async def _warm(run: Coroutine[Any, Any, SessionWatch], providers: LocalProviders,
                inspect_port: int | None = None) -> None:
    """Warm the models up, then run; with ``inspect_port``, the live graph view is served
    beside the session for as long as it runs."""
    started = time.perf_counter()
    inspector = None
    try:
        if inspect_port is not None:
            from flowagents.worker.inspect import InspectServer

            inspector = InspectServer(port=inspect_port)
            await inspector.start()
            print(f"live graph view: {inspector.url}", file=sys.stderr, flush=True)
        await providers.warm_up()
    except BaseException:
        run.close()
        if inspector is not None:
            await inspector.aclose()
        raise
    print(f"models warmed up in {time.perf_counter() - started:.2f} s", file=sys.stderr,
          flush=True)
    try:
        await run
    finally:
        if inspector is not None:
            await inspector.aclose()


async def _close_devices(*devices: Any) -> None:
    for device in devices:
        await device.aclose()


def register(app: typer.Typer) -> None:
    """Add the ``console`` command to ``app``."""
    app.command("console")(console)

