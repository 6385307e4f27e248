"""Draw a recorded conversation as a timeline: one lane per stage, each turn's latency annotated.

A recording (:mod:`flowagents.session.recording`) says when each stage acted; laid out on one time
axis, a late reply shows where its time went: the VAD's silence wait, the transcript, the
endpointing delay, the LLM's first token, the TTS's first audio. ``flowagents timeline
session.jsonl -o timeline.svg`` and ``SimulationResult.plot()`` draw with :func:`draw_timeline`.
Needs matplotlib (``pip install 'flowagents[notebooks]'``). Text stays text in the SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .recording import read_recording

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LANES", "draw_timeline", "render_timeline", "turn_latencies"]

LANES = ("user speech (VAD)", "STT", "endpointing", "LLM", "TTS", "playout", "interruptions",
         "agent state", "user state")
"""The lanes, top to bottom."""

_STATE_COLORS = {"initializing": "#dddddd", "listening": "#cfe8cf", "thinking": "#ffe2a8",
                 "speaking": "#a8c8ff", "away": "#eeeeee"}


def turn_latencies(events: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """``(end of user speech, seconds to the first agent audio)`` per answered user turn: from
    the later of the VAD's end of speech (the speech's own end) and the final transcript, to
    the next playout start."""
    out: list[tuple[float, float]] = []
    last_end: float | None = None
    last_final: float | None = None
    waiting: float | None = None
    for ev in sorted(events, key=lambda e: e["t"]):
        kind = ev["type"]
        if kind == "vad" and ev["event"] == "end_of_speech":
            last_end = ev["at"]
        elif kind == "transcript" and ev["final"]:
            last_final = ev["t"]
        elif kind == "user_turn" and last_end is not None:
            waiting = max(last_end, last_final if last_final is not None else last_end)
        elif kind == "playout" and ev["kind"] == "started" and waiting is not None:
            out.append((waiting, ev["t"] - waiting))
            waiting = None
    return out


def _spans(events: Sequence[dict[str, Any]], kind: str, end: float) -> list[tuple[float, float,
                                                                                   str]]:
    """``(start, stop, state)`` of each state the ``kind`` events changed to."""
    changes = [(e["t"], e["new"]) for e in events if e["type"] == kind]
    return [(t, changes[i + 1][0] if i + 1 < len(changes) else end, state)
            for i, (t, state) in enumerate(changes)]


def draw_timeline(events: Sequence[dict[str, Any]], *, ax: Axes | None = None,
                  title: str = "") -> Figure:
    """Draw ``events`` (a recording's, after its header) on ``ax`` or a new figure."""
    import matplotlib.pyplot as plt

    end = max((e["t"] for e in events), default=1.0) + 0.2
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(8.0, min(30.0, end * 1.2)), 4.8))
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    row = {name: len(LANES) - 1 - i for i, name in enumerate(LANES)}
    h = 0.6

    def bar(lane: str, start: float, stop: float, color: str, **kw: Any) -> None:
        ax.broken_barh([(start, max(stop - start, 0.004))], (row[lane] - h / 2, h),
                       facecolors=color, **kw)

    def mark(lane: str, t: float, label: str = "", color: str = "black",
             marker: str = "|") -> None:
        ax.plot([t], [row[lane]], marker=marker, color=color, markersize=12)
        if label:
            ax.annotate(label, (t, row[lane] + 0.32), fontsize=7, ha="left", va="bottom")

    speech_start: float | None = None
    for e in events:
        kind = e["type"]
        if kind == "vad":
            if e["event"] == "start_of_speech":
                speech_start = e["at"]
                mark("user speech (VAD)", e["t"], color="#2a7")
            elif speech_start is not None:
                bar("user speech (VAD)", speech_start, e["at"], "#7c7")
                mark("user speech (VAD)", e["t"], color="#2a7")
                speech_start = None
        elif kind == "transcript":
            if e["final"]:
                mark("STT", e["t"], _short(e["text"]), marker="v")
            else:
                mark("STT", e["t"], color="#999", marker=".")
        elif kind == "endpointing":
            mark("endpointing", e["t"], f"+{e['delay'] * 1e3:.0f} ms", marker="D")
        elif kind in ("llm", "tts"):
            lane = "LLM" if kind == "llm" else "TTS"
            color = "#f0b060" if kind == "llm" else "#70a0e0"
            faded = "#dddddd" if e["cancelled"] else color
            bar(lane, e["start"], e["t"], faded, alpha=0.6)
            if e["first"] is not None:
                bar(lane, e["start"], e["first"], faded)
                first = e["first"] - e["start"]
                name = "ttft" if kind == "llm" else "ttfb"
                ax.annotate(f"{name} {first * 1e3:.0f} ms" + (" (cancelled)" if e["cancelled"]
                                                               else ""),
                            (e["start"], row[lane] + 0.32), fontsize=7, va="bottom")
        elif kind == "playout":
            if e["kind"] == "step_done" and e.get("started_at") is not None:
                bar("playout", e["started_at"], e["ended_at"], "#5080d0",
                    hatch="//" if e["interrupted"] else None)
            elif e["kind"] in ("paused", "resumed"):
                mark("interruptions", e["t"], e["kind"], color="#c33", marker="x")
            elif e["kind"] == "cleared":  # the audio dropped: a mark, the reason is beside it
                mark("interruptions", e["t"], color="#c33", marker="x")
        elif kind == "interruption":
            mark("interruptions", e["t"], "false interruption", color="#c33", marker="x")
    for lane, kind in (("agent state", "agent_state"), ("user state", "user_state")):
        for start, stop, state in _spans(events, kind, end):
            bar(lane, start, stop, _STATE_COLORS.get(state, "#cccccc"), edgecolor="white")
            if stop - start > 0.25:
                ax.text(start + 0.02, row[lane], state, fontsize=7, va="center")
    for i, (at, latency) in enumerate(turn_latencies(events)):
        y = len(LANES) - 0.3
        ax.annotate("", (at + latency, y), (at, y),
                    arrowprops={"arrowstyle": "<->", "color": "#c33"})
        ax.text(at, y + 0.1, f"turn {i + 1}: {latency * 1e3:.0f} ms", fontsize=8, color="#c33")
    ax.set_yticks(list(row.values()), list(row.keys()))
    ax.set_ylim(-0.6, len(LANES) + 0.3)
    ax.set_xlim(0, end)
    ax.set_xlabel("seconds since the session started")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render_timeline(recording: str | Path, output: str | Path) -> Path:
    """Draw the recording at ``recording`` into ``output`` (SVG, PNG or PDF by its suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, events = read_recording(recording)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays searchable text
        fig = draw_timeline(events, title=Path(recording).name)
        out = Path(output)
        fig.savefig(out)
    plt.close(fig)
    return out
