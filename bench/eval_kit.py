"""What the evaluation and the latency benchmark share: spoken clips of the evaluation set in
several voices, and the weather agent's answer to a question through its tool loop.

Voices: the project's Piper voice (joe) at its own pace and 15 % faster, and three espeak-ng
voices (Debian's ``espeak-ng``: American, British, and a female American variant), all as 16 kHz
mono int16. espeak-ng is a command-line program; without it only the Piper voices are used (the
report says which voices ran).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
if os.environ.get("FLOWAGENTS_CODE"):  # measure another checkout's flowagents (a "before")
    sys.path.insert(0, os.environ["FLOWAGENTS_CODE"])

from flowagents.cli.console_io import RATE, read_wav  # noqa: E402
from flowagents.llm import ChatContext, FunctionCall, RunContext  # noqa: E402
from flowagents.llm import execute_function_call as run_tool  # noqa: E402

PIPER_VOICES = {"piper-joe": 1.0, "piper-joe-fast": 0.85}
ESPEAK_VOICES = {"espeak-us": "en-us", "espeak-gb": "en-gb", "espeak-us-f": "en-us+f3"}
Pcm = npt.NDArray[np.int16]


def voices() -> list[str]:
    """The voices this machine can synthesize (espeak-ng's only when it is installed)."""
    found = list(PIPER_VOICES)
    if shutil.which("espeak-ng"):
        found += list(ESPEAK_VOICES)
    return found


async def synthesize(text: str, voice: str, piper: dict[float, Any]) -> Pcm:
    """``text`` spoken by ``voice`` as 16 kHz mono int16 (no silence added)."""
    from flowagents.cli.console_io import _resample

    if voice in PIPER_VOICES:
        tts = piper[PIPER_VOICES[voice]]
        chunks = [c.frame.data async for c in tts.synthesize(text)]
        return _resample(np.concatenate(chunks), tts.sample_rate, RATE)
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        command = ["espeak-ng", "-v", ESPEAK_VOICES[voice], "-s", "165", "-w", f.name, text]
        subprocess.run(command, check=True, capture_output=True)  # noqa: ASYNC221 - set-up
        return read_wav(f.name, RATE)


def piper_voices() -> dict[float, Any]:
    from flowagents.plugins.piper import PiperTTS

    return {scale: PiperTTS(length_scale=scale) for scale in set(PIPER_VOICES.values())}


@dataclass
class Answer:
    text: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


async def answer(llm: Any, agent: Any, question: str | None, *,
                 extra_instructions: str | None = None, steps: int = 3) -> Answer:
    """The agent's reply to ``question`` (None: a reply with no user turn, e.g. a greeting)
    as the session builds its context: the instructions, the conversation, then a reply's
    extra instructions; tool calls run and their outputs go back to the model."""
    ctx = ChatContext()
    ctx.add_message(role="system", content=agent.instructions)
    if question is not None:
        ctx.add_message(role="user", content=question)
    if extra_instructions:
        ctx.add_message(role="system", content=extra_instructions)
    tools = list(agent.tools)
    result = Answer("")
    for _ in range(steps):
        text, calls = "", []
        async for chunk in llm.chat(chat_ctx=ctx, tools=tools):
            text += chunk.delta
            calls += chunk.tool_calls
        result.text += text
        if not calls:
            break
        for c in calls:
            call = FunctionCall(call_id=c.call_id, name=c.name, arguments=c.arguments)
            done = await run_tool(call, tools, RunContext(session=None, speech_handle=None,
                                                          function_call=call))
            result.calls.append((c.name, json.loads(c.arguments or "{}")))
            result.outputs.append(done.output.output)
            ctx.insert([call, done.output])
    return result


def normalize(text: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]+", " ", text.lower())).strip()


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    import jiwer

    return float(jiwer.wer([normalize(r) for r in refs], [normalize(h) or "-" for h in hyps]))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")
