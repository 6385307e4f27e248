"""A user's mistake gets one short line and a non-zero exit, never a traceback.

Each bad input is fed to ``console``, ``graph`` and the worker commands (``dev``, ``start``,
``connect``): a module that does not exist, a file path, ``module:missing``, a syntax error or an
exception in the agent file, and, for ``console``, an input that is not audio, an empty WAV and an
output into a missing folder, all refused before any model loads. ``--verbose`` adds the
traceback. A few run as real processes, the way a user meets them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner, Result

from flowagents.cli import console_cmd
from flowagents.cli.loading import LoadError
from flowagents.cli.main import app
from flowagents.cli.worker_cmd import load_agent

REPO = Path(__file__).resolve().parents[2]
MINIMAL = REPO / "examples" / "minimal.py"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_short_error(result: Result, message: str) -> None:
    """Non-zero exit, ``error: <message>`` in at most two lines, no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"unhandled {result.exception!r}")
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("error: ")
    assert message in result.stderr, result.stderr


@pytest.fixture
def user_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of agent files with mistakes, and a good one that imports its sibling."""
    files = {
        "bad_syntax_agent.py": "from flowagents.voice import Agent\n\nclass A(Agent:\n    pass\n",
        "raising_agent.py": "import os\n\nVALUE = 1 / 0\n",
        "missing_dep_agent.py": "import os\nimport no_such_dependency_xyz\n",
        "sibling_helper.py": "INSTRUCTIONS = 'from the sibling'\n",
        "sibling_agent.py": textwrap.dedent("""
            from sibling_helper import INSTRUCTIONS

            from flowagents.voice import Agent


            class Helper(Agent):
                def __init__(self) -> None:
                    super().__init__(instructions=INSTRUCTIONS)


            async def entrypoint(ctx):
                pass


            def prewarm(proc):
                pass
        """),
        "not_audio.wav": "this is text, not audio\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    sf.write(str(tmp_path / "empty.wav"), np.zeros(0, np.int16), 16000, subtype="PCM_16")
    sf.write(str(tmp_path / "hello.wav"), np.zeros(1600, np.int16), 16000, subtype="PCM_16")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in files:
        monkeypatch.delitem(sys.modules, name.removesuffix(".py"), raising=False)
    return tmp_path


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console must refuse before it loads a model: loading one fails the test."""
    def load_providers(*_a: object, **_k: object) -> None:
        raise AssertionError("models were loaded before the mistake was reported")

    monkeypatch.setattr(console_cmd, "load_providers", load_providers)


# -- the agent file, for each command -------------------------------------------------------
AGENT_COMMANDS = [("console",), ("graph", "validate"), ("dev",), ("start",),
                  ("connect", "--room", "r")]


@pytest.mark.usefixtures("no_models")
@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=lambda c: c[0])
def test_a_module_that_does_not_exist(command: tuple[str, ...]) -> None:
    target = "no_such_agent_module_xyz:graph" if command[0] == "graph" else \
        "no_such_agent_module_xyz"
    assert_short_error(run(*command, target), "no module named 'no_such_agent_module_xyz'")


@pytest.mark.usefixtures("no_models")
@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=lambda c: c[0])
def test_a_syntax_error_names_the_file_and_line(command: tuple[str, ...],
                                               user_files: Path) -> None:
    path = user_files / "bad_syntax_agent.py"
    target = f"{path}:graph" if command[0] == "graph" else str(path)
    assert_short_error(run(*command, target), f"syntax error in {path}:3: ")


@pytest.mark.usefixtures("no_models")
@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=lambda c: c[0])
def test_an_exception_in_the_agent_file_names_where(command: tuple[str, ...],
                                                   user_files: Path) -> None:
    path = user_files / "raising_agent.py"
    target = f"{path}:graph" if command[0] == "graph" else str(path)
    result = run(*command, target)
    assert_short_error(result, f"importing {path} failed: ZeroDivisionError: division by zero "
                               f"(at {path}:3)")
    assert "(--verbose for the traceback)" in result.stderr


@pytest.mark.usefixtures("no_models")
@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=lambda c: c[0])
def test_a_missing_dependency_of_the_agent_file(command: tuple[str, ...],
                                               user_files: Path) -> None:
    path = user_files / "missing_dep_agent.py"
    target = f"{path}:graph" if command[0] == "graph" else str(path)
    assert_short_error(run(*command, target), "ModuleNotFoundError: No module named "
                                              f"'no_such_dependency_xyz' (at {path}:2)")


@pytest.mark.usefixtures("no_models")
@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=lambda c: c[0])
def test_a_file_that_does_not_exist(command: tuple[str, ...], tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "agent.py"
    target = f"{path}:graph" if command[0] == "graph" else str(path)
    assert_short_error(run(*command, target), f"file '{path}' not found")


@pytest.mark.usefixtures("no_models")
def test_a_file_path_without_py_suggests_the_file() -> None:
    target = str(MINIMAL.with_suffix(""))
    assert_short_error(run("console", target), f"file '{target}' not found (did you mean "
                                               f"{MINIMAL}?)")


@pytest.mark.parametrize("command", [("graph", "validate"), ("dev",), ("start",)],
                         ids=lambda c: c[0])
def test_module_colon_missing_lists_what_the_module_has(command: tuple[str, ...],
                                                       user_files: Path) -> None:
    target = f"{user_files / 'sibling_agent.py'}:no_such_thing"
    result = run(*command, target)
    assert_short_error(result, "has no attribute 'no_such_thing' (it has: ")
    assert "entrypoint" in result.stderr


@pytest.mark.usefixtures("no_models")
def test_console_takes_no_attribute() -> None:
    assert_short_error(run("console", f"{MINIMAL}:Assistant"),
                       f"console takes the agent file or module alone ({MINIMAL}), not "
                       ":Assistant: it finds create_agent() or the one Agent subclass itself")


def test_verbose_shows_the_traceback(user_files: Path) -> None:
    result = run("dev", str(user_files / "raising_agent.py"), "--verbose")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: importing ")


# -- the worker commands: module, file or module:attr, with the module's prewarm ------------
@pytest.fixture
def examples_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """``examples`` as the repository's folder, not ``tests/examples`` (pytest imports that
    under the same name), the working directory at the repository's root."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", [p for p in sys.path
                                      if Path(p or ".").resolve() != REPO / "tests"])
    for name in [n for n in sys.modules if n == "examples" or n.startswith("examples.")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.usefixtures("examples_package")
def test_the_readme_target_keeps_the_examples_prewarm() -> None:
    opts = load_agent("examples.minimal:entrypoint")
    module = sys.modules["examples.minimal"]
    assert opts.entrypoint_fnc is module.entrypoint
    assert opts.prewarm_fnc is module.prewarm
    again = load_agent("examples.minimal")  # the module alone: its entrypoint and prewarm
    assert (again.entrypoint_fnc, again.prewarm_fnc) == (module.entrypoint, module.prewarm)


def test_a_file_path_is_imported_by_name_with_its_folder_on_the_path(user_files: Path) -> None:
    opts = load_agent(str(user_files / "sibling_agent.py"))
    module = sys.modules["sibling_agent"]  # importable by name: job processes unpickle it
    assert opts.entrypoint_fnc is module.entrypoint
    assert opts.prewarm_fnc is module.prewarm
    assert str(user_files) in sys.path


def test_the_modules_own_worker_options_win(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "opts_agent.py").write_text(textwrap.dedent("""
        from flowagents.worker.options import WorkerOptions

        async def entrypoint(ctx):
            pass

        def prewarm(proc):
            pass

        def other_prewarm(proc):
            pass

        server = WorkerOptions(entrypoint_fnc=entrypoint, prewarm_fnc=other_prewarm,
                               agent_name="named")
    """), encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "opts_agent", raising=False)
    path = str(tmp_path / "opts_agent.py")
    module_opts = load_agent(path)
    assert module_opts.agent_name == "named"
    assert load_agent(f"{path}:entrypoint") is module_opts
    assert load_agent(f"{path}:server") is module_opts


def test_an_entrypoint_that_is_not_a_function_is_refused(user_files: Path) -> None:
    with pytest.raises(LoadError, match="INSTRUCTIONS is str: expected WorkerOptions or an "
                                        "entrypoint function"):
        load_agent(f"{user_files / 'sibling_helper.py'}:INSTRUCTIONS")


# -- console: sibling imports, inputs and outputs checked before any model loads -------------
def test_console_puts_the_agent_files_folder_on_the_path(user_files: Path) -> None:
    app_ = console_cmd.load_agent_app(str(user_files / "sibling_agent.py"))
    assert app_.create_agent().instructions == "from the sibling"


@pytest.mark.usefixtures("examples_package")
def test_console_takes_a_module_name_from_the_working_directory() -> None:
    app_ = console_cmd.load_agent_app("examples.minimal")
    assert type(app_.create_agent()).__name__ == "Assistant"


@pytest.mark.usefixtures("no_models")
@pytest.mark.parametrize(("args", "message"), [
    (["--input", "{dir}/hello.wav", "--output", "{dir}/missing/reply.wav"],
     "cannot write {dir}/missing/reply.wav: folder '{dir}/missing' does not exist"),
    (["--input", "{dir}/hello.wav", "--output", "{dir}"], "is a folder"),
    (["--input", "{dir}/hello.wav", "--output", "{dir}/reply.mp3"], "must be a .wav file"),
    (["--input", "{dir}/not_audio.wav"], "input file {dir}/not_audio.wav is not audio"),
    (["--input", "{dir}/empty.wav"], "input file {dir}/empty.wav has no audio (0 samples)"),
    (["--input", "{dir}/absent.wav"], "input file {dir}/absent.wav does not exist"),
    (["--output", "{dir}/reply.wav"], "--output needs --input"),
    (["--text", "--input", "{dir}/hello.wav"], "choose one of --text and --input"),
])
def test_console_checks_its_files_before_any_model_loads(user_files: Path, args: list[str],
                                                         message: str) -> None:
    args = [a.replace("{dir}", str(user_files)) for a in args]
    result = run("console", str(MINIMAL), *args)
    assert_short_error(result, message.replace("{dir}", str(user_files)))
    assert result.exit_code == 1


def test_an_agent_factory_that_raises_is_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "factory_agent.py").write_text(textwrap.dedent("""
        def create_agent():
            return {}["missing"]
    """), encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    app_ = console_cmd.load_agent_app(str(tmp_path / "factory_agent.py"))
    with pytest.raises(console_cmd.ConsoleError) as caught:
        app_.create_agent()
    assert str(caught.value) == (f"{tmp_path / 'factory_agent.py'}: create_agent() failed: "
                                 f"KeyError: 'missing' (at {tmp_path / 'factory_agent.py'}:3)")
    assert isinstance(caught.value.__cause__, KeyError)


# -- as a user meets them: real processes ---------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["console", "no_such_agent_module_xyz"], "error: no module named 'no_such_agent_module_xyz'"),
    (["dev", "examples.minimal:no_such_entrypoint"],
     "error: examples.minimal:no_such_entrypoint: 'examples.minimal' has no attribute "
     "'no_such_entrypoint'"),
    (["graph", "render", "graphs.voice:voice_graph", "-o", "picture.bmp"],
     "error: cannot tell the format of picture.bmp"),
])
def test_as_a_process_one_line_and_a_non_zero_exit(args: list[str], message: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "flowagents.cli.main", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(message), lines[0]


# -- graph render: the file's extension picks the format, or it is refused -----------------
@pytest.mark.parametrize(("suffix", "magic"), [
    (".svg", b"<?xml"), (".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-"),
    (".dot", b"digraph "), (".json", b"{"), (".yaml", b"version: ")])
def test_render_writes_the_format_its_extension_names(tmp_path: Path, suffix: str,
                                                      magic: bytes) -> None:
    out = tmp_path / f"voice{suffix}"
    result = run("graph", "render", "graphs.example:example_graph", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    assert f"wrote {out} ({suffix[1:]}, " in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "{dir}/x.bmp"], "cannot tell the format of {dir}/x.bmp: name it .svg .png .pdf"),
    (["-o", "{dir}/missing/x.svg"], "cannot write {dir}/missing/x.svg: folder "
                                    "'{dir}/missing' does not exist"),
    (["-f", "png"], "png is binary: give a file with -o"),
])
def test_render_refuses_what_it_cannot_write(tmp_path: Path, args: list[str],
                                             message: str) -> None:
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    result = run("graph", "render", "graphs.example:example_graph", *args)
    assert_short_error(result, message.replace("{dir}", str(tmp_path)))
    assert list(tmp_path.iterdir()) == []
