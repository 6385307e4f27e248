"""The agent in a real LiveKit room, measured from a participant: what the room path costs.

Runs against the LiveKit server the test command uses (``LIVEKIT_*``) or starts one with
``scripts/livekit-server.sh``. A worker runs in this process with real job processes (the
LiveKit tests' agent: Silero VAD hearing the room; scripted STT, LLM and TTS, or the offline
models); participants are clients of the ``livekit`` RTC SDK in this process. Every time is on
``time.monotonic()``, which job processes share, so a participant's times and a session's own
events are set side by side.

1. ``join``: participant starts to join -> first audible agent frame (a scripted greeting), over
   ``--rooms`` rooms one after another, with where the time goes (dispatch and job start, the
   agent's room connection, the session start, the greeting to the ear).
2. ``turn``: end of the user's speech (the last loud 10 ms of the WAV as the participant sent
   it) -> first audible agent frame at the participant, beside the same turn measured inside the
   job (the session's VAD-dated end of speech -> its agent state turning ``speaking``, i.e. the
   first frame handed to the room track). Scripted providers give the framework-plus-WebRTC
   cost; ``--offline`` turns add the offline models.
3. ``kill``: ``kill -9`` of a worker (its own process) holding a job, another worker registered:
   the kill -> a new room's agent connected (from the other worker); -> the dead worker's agent
   gone from its room (its job process ends when the worker's IPC closes); -> that room served
   again after the application re-dispatches it (LiveKit's server does not reassign a dead
   worker's jobs).
4. ``jobs``: ``--concurrent`` voice jobs at once, each with a participant sending silence into
   its room: RSS and USS per job process, CPU per job, and what that makes per worker.

``flock /tmp/bench.lock python bench/bench_livekit.py --write`` rewrites the ``bench_livekit``
section of docs/benchmarks.md (nothing outside its markers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "livekit")]

from livekit import api  # noqa: E402
from lk_agents import AgentConfig, entrypoint, prewarm, read_events  # noqa: E402
from lk_participant import QUESTION_WAV, Participant  # noqa: E402
from lk_server import LiveKitServer, server_from_env, start_server  # noqa: E402
from lk_worker_main import WorkerProcess  # noqa: E402

from flowagents.worker import Worker, WorkerOptions  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def ms(x: float) -> int:
    return round(x * 1000)


async def start_worker(server: LiveKitServer, out_dir: str, name: str) -> Worker:
    worker = Worker(WorkerOptions(
        entrypoint_fnc=functools.partial(entrypoint, AgentConfig(out_dir=out_dir)),
        prewarm_fnc=prewarm, agent_name=name, ws_url=server.url, api_key=server.api_key,
        api_secret=server.api_secret, load_fnc=lambda: 0.0, num_idle_processes=3,
        initialize_process_timeout=60.0, shutdown_process_timeout=5.0, port=0,
        host="127.0.0.1"), serve_http=False)
    worker._bench_task = asyncio.create_task(worker.run())  # type: ignore[attr-defined]
    await asyncio.wait_for(worker.wait_registered(), 30)
    for _ in range(1200):  # its pre-warmed processes ready, as a worker in service has them
        if worker.pool.idle_count >= 3:
            break
        await asyncio.sleep(0.05)
    return worker


def user(server: LiveKitServer, room: str) -> Participant:
    return Participant(server.url, server.api_key, server.api_secret, room)


def dispatch(name: str, **cfg: Any) -> api.RoomAgentDispatch:
    return api.RoomAgentDispatch(agent_name=name, metadata=json.dumps(cfg))


async def listening(p: Participant, within: float) -> None:
    await p.wait_for(lambda: any(s == "listening" for _, s in p.agent_states), within,
                     "the agent to listen")


async def bench_join(server: LiveKitServer, out_dir: str, name: str, rooms: int
                     ) -> dict[str, Any]:
    rows: list[dict[str, float]] = []
    for i in range(rooms):
        room = f"join-{i}-{os.urandom(3).hex()}"
        p = user(server, room)
        await p.join(dispatch=dispatch(name, mode="voice", greeting=True))
        try:
            first = await p.wait_for_agent_audio(30)
        finally:
            await p.leave()
        ev = {e["kind"]: e for e in read_events(out_dir) if e["room"] == room}
        rows.append({"total": first - p.joined_at, "job": ev["job"]["t"] - p.joined_at,
                     "connect": ev["connected"]["t"] - ev["job"]["t"],
                     "session": ev["session_started"]["t"] - ev["connected"]["t"],
                     "greeting": first - ev["session_started"]["t"]})
        await asyncio.sleep(0.3)
    return {k: {"p50": ms(statistics.median(r[k] for r in rows)),
                "p90": ms(pct([r[k] for r in rows], 0.9))} for k in rows[0]} | {"n": rooms}


async def bench_turn(server: LiveKitServer, out_dir: str, name: str, turns: int,
                     providers: str) -> dict[str, Any]:
    outside: list[float] = []
    inside: list[float] = []
    for i in range(turns):
        room = f"turn-{providers}-{i}-{os.urandom(3).hex()}"
        p = user(server, room)
        await p.join(dispatch=dispatch(name, mode="voice", providers=providers))
        try:
            await listening(p, 90)
            await asyncio.sleep(0.5)
            _, speech_end = await p.say(QUESTION_WAV)
            await p.wait_for(lambda: any(r.t > speech_end and r.rms > 300 for r in p.audio),  # noqa: B023
                             60, "the answer")
            outside.append(p.first_audio_after(speech_end) - speech_end)
            events = [e for e in read_events(out_dir) if e["room"] == room]
            eou = next(e for e in events if e["kind"] == "eou")
            speaking = next(e for e in events if e["kind"] == "agent_state"
                            and e["state"] == "speaking" and e["t"] >= eou["committed"])
            inside.append(speaking["t"] - eou["speech_end"])
        finally:
            await p.leave()
        await asyncio.sleep(0.3)
    diff = [o - n for o, n in zip(outside, inside, strict=True)]
    return {"n": turns, "participant_p50": ms(statistics.median(outside)),
            "participant_p90": ms(pct(outside, 0.9)),
            "session_p50": ms(statistics.median(inside)), "session_p90": ms(pct(inside, 0.9)),
            "room_path_p50": ms(statistics.median(diff))}


async def _agent_in(out_dir: str, room: str, after: float, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        for e in read_events(out_dir):
            if e["kind"] == "connected" and e["room"] == room and e["t"] > after:
                return e
        if time.monotonic() > deadline:
            raise TimeoutError(f"no agent in {room}")
        await asyncio.sleep(0.02)


async def _left(lk: api.LiveKitAPI, room: str, identity: str) -> None:
    """Poll the server until ``identity`` is no longer in ``room``."""
    for _ in range(1500):
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
        if all(p.identity != identity for p in listed.participants):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{identity} still in {room}")


async def bench_kill(server: LiveKitServer, rounds: int) -> dict[str, Any]:
    served, gone, back = [], [], []
    async with api.LiveKitAPI(server.url, server.api_key, server.api_secret) as lk:
        for i in range(rounds):
            out_dir = tempfile.mkdtemp(prefix="bench-kill-")
            name = f"kill-{i}-{os.urandom(3).hex()}"
            meta = json.dumps({"mode": "probe"})
            a = WorkerProcess(server, out_dir, name)
            b: WorkerProcess | None = None
            try:
                await a.registered()
                held, new = f"{name}-held", f"{name}-new"
                await lk.room.create_room(api.CreateRoomRequest(name=held))
                await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=name, room=held, metadata=meta))
                agent = await _agent_in(out_dir, held, 0.0, 30)
                b = WorkerProcess(server, out_dir, name)
                await b.registered()
                await asyncio.sleep(3.0)  # its pre-warmed processes ready, as in production
                killed = time.monotonic()
                a.kill()
                await lk.room.create_room(api.CreateRoomRequest(name=new))
                await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=name, room=new, metadata=meta))
                served.append((await _agent_in(out_dir, new, killed, 30))["t"] - killed)
                await _left(lk, held, agent["identity"])
                gone.append(time.monotonic() - killed)
                await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=name, room=held, metadata=meta))
                back.append((await _agent_in(out_dir, held, killed, 30))["t"] - killed)
                for room in (held, new):
                    await lk.room.delete_room(api.DeleteRoomRequest(room=room))
            finally:
                a.stop()
                if b is not None:
                    b.stop()
    return {"n": rounds,
            **{f"{k}_p50": ms(statistics.median(v)) for k, v in
               (("served", served), ("gone", gone), ("back", back))},
            **{f"{k}_max": ms(max(v)) for k, v in
               (("served", served), ("gone", gone), ("back", back))}}


async def bench_jobs(server: LiveKitServer, out_dir: str, name: str, n: int,
                     seconds: float) -> dict[str, Any]:
    rooms = [f"jobs-{i}-{os.urandom(3).hex()}" for i in range(n)]
    people = [user(server, r) for r in rooms]
    try:
        for p in people:
            await p.join(dispatch=dispatch(name, mode="voice"))
        for p in people:
            await listening(p, 60)
        await asyncio.sleep(3.0)  # settle
        pids = [next(e["pid"] for e in read_events(out_dir) if e["room"] == r and
                     e["kind"] == "job") for r in rooms]
        procs = [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]
        ended = [e for e in read_events(out_dir) if e["kind"] in ("shutdown", "close")]
        if len(procs) < n or ended:
            print("jobs that ended early:", ended, flush=True)
        cpu0 = [sum(pr.cpu_times()[:2]) for pr in procs]
        me = psutil.Process()
        me0 = sum(me.cpu_times()[:2])
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        cpu = [100 * (sum(pr.cpu_times()[:2]) - c) / wall for pr, c in zip(procs, cpu0,
                                                                            strict=True)]
        here = 100 * (sum(me.cpu_times()[:2]) - me0) / wall
        mem = [pr.memory_full_info() for pr in procs]
    finally:
        for p in people:
            await p.leave()
    rss = [m.rss / 2**20 for m in mem]
    uss = [m.uss / 2**20 for m in mem]
    per_job = statistics.median(cpu)
    return {"jobs": len(procs), "seconds": seconds, "rss_mb_median": round(statistics.median(rss)),
            "uss_mb_median": round(statistics.median(uss)),
            "cpu_pct_per_job_median": round(per_job, 2), "cpu_pct_jobs_total": round(sum(cpu), 1),
            "cpu_pct_bench_process": round(here, 1),
            "jobs_per_2_cores_by_cpu": int(200 / per_job) if per_job > 0 else None,
            "jobs_in_16_gb_by_uss": int(16 * 1024 / statistics.median(uss))}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = server_from_env()
    started = server is None
    if server is None:
        server = start_server()
    out_dir = tempfile.mkdtemp(prefix="bench-livekit-")
    name = f"bench-{os.urandom(3).hex()}"
    worker = await start_worker(server, out_dir, name)
    results: dict[str, Any] = {"loadavg_before": [round(x, 2) for x in os.getloadavg()],
                               "cpus": psutil.cpu_count()}
    try:
        results["join"] = await bench_join(server, out_dir, name, args.rooms)
        print("join", results["join"], flush=True)
        results["turn_scripted"] = await bench_turn(server, out_dir, name, args.turns,
                                                    "scripted")
        print("turn scripted", results["turn_scripted"], flush=True)
        if args.offline:
            results["turn_offline"] = await bench_turn(server, out_dir, name, args.offline,
                                                       "local")
            print("turn offline", results["turn_offline"], flush=True)
        results["kill"] = await bench_kill(server, args.kills)
        print("kill", results["kill"], flush=True)
        results["jobs"] = await bench_jobs(server, out_dir, name, args.concurrent, 10.0)
        print("jobs", results["jobs"], flush=True)
    finally:
        await worker.aclose()
        with contextlib.suppress(Exception):
            await worker._bench_task  # type: ignore[attr-defined]
        if started:
            server.stop()
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return results


async def run_only(args: argparse.Namespace) -> dict[str, Any]:
    server = server_from_env()
    started = server is None
    if server is None:
        server = start_server()
    out_dir = tempfile.mkdtemp(prefix="bench-livekit-")
    name = f"bench-{os.urandom(3).hex()}"
    worker = await start_worker(server, out_dir, name)
    try:
        jobs = await bench_jobs(server, out_dir, name, args.concurrent, 10.0)
        print("jobs", jobs, flush=True)
    finally:
        await worker.aclose()
        with contextlib.suppress(Exception):
            await worker._bench_task  # type: ignore[attr-defined]
        if started:
            server.stop()
    return {"jobs": jobs, "jobs_loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def _jobs_lines(jobs: dict[str, Any] | None) -> list[str]:
    if jobs is None:
        return ["**Jobs with a real room connection**: not measured in this run (see the",
                "command's `--only jobs`)."]
    return [
        f"**Jobs with a real room connection**: {jobs['jobs']} voice jobs at once (Silero on",
        "every 10 ms of a participant's silence, scripted providers), measured over",
        f"{jobs['seconds']:.0f} s: RSS {jobs['rss_mb_median']} MB per job process (USS, its",
        f"own pages, {jobs['uss_mb_median']} MB), CPU {jobs['cpu_pct_per_job_median']} % of a",
        f"core per job ({jobs['cpu_pct_jobs_total']} % for all; the {jobs['jobs']} participants",
        f"took {jobs['cpu_pct_bench_process']} % in the benchmark's process). By CPU a 2-core",
        f"worker holds about {jobs['jobs_per_2_cores_by_cpu']} such jobs; by memory 16 GB holds",
        f"about {jobs['jobs_in_16_gb_by_uss']}. Real providers cost far more CPU per job (see",
        "the worker section above for frame lateness under load).",
    ]


def _load(results: dict[str, Any]) -> str:
    return (f"load average {results.get('loadavg_before')} before, "
            f"{results.get('loadavg_after')} after")


def write(results: dict[str, Any], command: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    j, t, jobs, k = (results["join"], results["turn_scripted"], results.get("jobs"),
                     results["kill"])
    off = results.get("turn_offline")
    lines = [
        "<!-- bench_livekit:start -->",
        "## In a real LiveKit room (`bench/bench_livekit.py`)",
        "",
        f"`{command}` (livekit-server v1.13.5 in dev mode on loopback, a worker with real job",
        "processes and the participants in the benchmark's process, all on this 2-core machine;",
        f"{results.get('load_note') or _load(results)}).",
        "Times are `time.monotonic()` in every process, so the participant's times and the",
        "session's own events are compared directly.",
        "",
        f"**Participant joins -> first agent audio** (a scripted greeting, {j['n']} rooms one",
        "after another; the participant starts joining with a token that dispatches the agent):",
        "",
        "| step | p50 (ms) | p90 (ms) |",
        "|---|---|---|",
        f"| join -> job running in its process (room created, dispatch, assignment) | "
        f"{j['job']['p50']} | {j['job']['p90']} |",
        f"| agent's room connection | {j['connect']['p50']} | {j['connect']['p90']} |",
        f"| session start (graph built, track published) | {j['session']['p50']} | "
        f"{j['session']['p90']} |",
        f"| greeting -> first audible frame at the participant | {j['greeting']['p50']} | "
        f"{j['greeting']['p90']} |",
        f"| **total** | **{j['total']['p50']}** | **{j['total']['p90']}** |",
        "",
        "**End of user speech -> first agent audio**: at the participant (last loud 10 ms of",
        "the WAV as sent -> first audible agent frame received) and inside the job (the",
        "session's VAD-dated end of speech -> agent state `speaking`, the first frame handed",
        "to the room track). The difference is what the room path adds (uplink + downlink",
        "WebRTC, Opus, jitter buffers), besides Silero's estimate of where speech ended.",
        "",
        "| providers | turns | participant p50 / p90 (ms) | in the session p50 / p90 (ms) | "
        "room path p50 (ms) |",
        "|---|---|---|---|---|",
        f"| scripted (STT 50 ms, LLM TTFT 50 ms, TTS TTFB 50 ms) | {t['n']} | "
        f"{t['participant_p50']} / {t['participant_p90']} | {t['session_p50']} / "
        f"{t['session_p90']} | {t['room_path_p50']} |",
    ]
    if off:
        lines.append(
            f"| offline (Silero, Whisper tiny.en, SmolLM2-135M, Piper) | {off['n']} | "
            f"{off['participant_p50']} / {off['participant_p90']} | {off['session_p50']} / "
            f"{off['session_p90']} | {off['room_path_p50']} |")
    lines += [
        "",
        "Inside the session the scripted turn is Silero's 0.55 s silence wait (the 0.5 s",
        "endpointing delay runs from the same end of speech) plus the fakes' 150 ms: the floor",
        "a real turn starts from. The offline turns load their models when the job starts",
        "(not counted) and make each model's first call inside the turn: every turn here is",
        "the first of a fresh job process, unlike `bench_offline_session` above (warm models,",
        "many turns in one process), so they show a cold first turn, not the steady state.",
        "",
        f"**kill -9 of a worker holding a job** ({k['n']} rounds, another worker registered;",
        "median / worst): a room created right after the kill had its agent (from the other",
        f"worker) {k['served_p50']} / {k['served_max']} ms after it: the server drops a",
        "worker whose connection closes at once, so no new job waits for a dead one. The dead",
        f"worker's agent left its room {k['gone_p50']} / {k['gone_max']} ms after the kill",
        "(its job process ends when the worker's IPC closes). LiveKit's server (v1.13.5) does",
        "not reassign that job; re-dispatched by the application (`AgentDispatchService`) the",
        f"room had an agent again {k['back_p50']} / {k['back_max']} ms after the kill.",
        "",
    ]
    lines += _jobs_lines(jobs)
    lines += [
        "<!-- bench_livekit:end -->",
    ]
    section = "\n".join(lines)
    start, end = "<!-- bench_livekit:start -->", "<!-- bench_livekit:end -->"
    if start in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--offline", type=int, default=5, help="offline turns (0: none)")
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--only", choices=["jobs"], help="run this part alone and merge it "
                        "into the results of --json (written by an earlier run)")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--json", help="also save the results here")
    args = parser.parse_args()
    if args.only:
        results = json.loads(Path(args.json).read_text())
        results.update(asyncio.run(run_only(args)))
    else:
        results = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.write:
        write(results, "flock /tmp/bench.lock python bench/bench_livekit.py --write")


if __name__ == "__main__":
    main()
