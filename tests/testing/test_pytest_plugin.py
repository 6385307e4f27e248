"""The pytest plugin: a test marked ``virtual_time`` runs on a virtual-time loop, whatever
pytest-asyncio's mode (strict, auto, or not loaded), and the plugin is registered by entry point.

Each case runs pytest in a fresh process on a test file in a bare folder (no project config), the
way a user's project would.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TESTS = '''
import asyncio

import pytest

from flowagents.runtime import VirtualTimeEventLoop
from flowagents.testing import Script, simulate
from flowagents.voice import Agent


@pytest.mark.virtual_time
async def test_a_minute_passes_at_once(tmp_path) -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeEventLoop)
    start = loop.time()
    await asyncio.sleep(60)
    assert loop.time() - start == 60
    assert tmp_path.is_dir()  # fixtures work


@pytest.mark.virtual_time
@pytest.mark.parametrize("seconds", [1.5, 2.5])
async def test_parametrized(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(seconds)
    assert loop.time() == seconds


@pytest.mark.virtual_time
async def test_a_conversation() -> None:
    script = Script()
    script.user_speech(start=0.5, end=2.5, transcript="Hello", stt_delay=0.2)
    script.llm_reply(input="Hello", content="Hi there!", ttft=0.1)
    script.tts_audio(input="Hi there!", audio_duration=1.0, ttfb=0.2)
    result = await simulate(script, agent=Agent(instructions="Be kind."))
    assert [m.role for m in result.history.items if m.type == "message"] == [
        "user", "assistant"]


@pytest.mark.virtual_time
async def test_a_failure_is_reported() -> None:
    await asyncio.sleep(1)
    assert "expected" == "failure"
'''


def plugin_args() -> list[str]:
    """``-p`` for the plugin when this environment's install predates its entry point (an
    editable install made before it was declared); none when pytest finds it by itself."""
    points = importlib.metadata.entry_points(group="pytest11")
    if any(p.value == "flowagents.testing.pytest_plugin" for p in points):
        return []
    return ["-p", "flowagents.testing.pytest_plugin"]


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args(), *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("mode", [["-o", "asyncio_mode=strict"], ["-o", "asyncio_mode=auto"],
                                  ["-p", "no:asyncio"]], ids=["strict", "auto", "no-asyncio"])
def test_marked_tests_run_in_virtual_time(tmp_path: Path, mode: list[str]) -> None:
    (tmp_path / "test_user.py").write_text(TESTS, encoding="utf-8")
    done = run_pytest(tmp_path, *mode, "-rA")
    summary = done.stdout.strip().splitlines()[-1]
    assert "1 failed, 4 passed" in summary, done.stdout + done.stderr
    assert "FAILED test_user.py::test_a_failure_is_reported - AssertionError" in done.stdout
    assert "PASSED test_user.py::test_a_conversation" in done.stdout


def test_the_plugin_is_declared_as_a_pytest11_entry_point() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    points = project["project"]["entry-points"]["pytest11"]
    assert points == {"flowagents": "flowagents.testing.pytest_plugin"}


def test_the_readme_recipe_file_needs_nothing_but_the_marker(tmp_path: Path) -> None:
    (tmp_path / "test_marker_only.py").write_text(textwrap.dedent('''
        import asyncio
        import pytest

        @pytest.mark.virtual_time
        async def test_sleep() -> None:
            await asyncio.sleep(3600)
            assert asyncio.get_running_loop().time() == 3600
    '''), encoding="utf-8")
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed in" in done.stdout
