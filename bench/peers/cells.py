"""One cell: one server, one scenario. Start the server fresh, start the client processes, let
them connect, start them all at one instant, measure the server from /proc while they run,
then stop everything and check the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.peers import analysis, servers
from bench.peers.env import ROOT, PeersEnv
from bench.peers.plan import load_trace, now, position_fractions, schedule
from bench.peers.procstat import MachineTimes, cpu_seconds, rss_bytes

MiB = 1024 * 1024
NODE_WORKER = ROOT / "bench" / "peers" / "node" / "worker.mjs"


@dataclass(frozen=True)
class Cell:
    scenario: str  # S1, S2, S3 or probe
    label: str  # K=16, per keystroke, N=500, ...
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    env: PeersEnv
    workdir: Path
    trace: Path
    seed: int
    ours_source: Path  # where ``app``, ``sdk`` and ``sync`` are imported from
    uvicorn_options: dict[str, Any] = field(default_factory=dict)  # ours', given to pycrdt too
    quiet_below: float = 1.0  # wait for the machine to be less busy than this before a cell,
    quiet_wait: float = 0.0  # at most this long
    quiet_sample: float = 1.0  # seconds per sample of the machine's load
    runs: int = 0
    clients: str = "python"  # the client processes: bench.peers.worker, or node/worker.mjs

    def next_dir(self, name: str) -> Path:
        self.runs += 1
        path = self.workdir / f"{self.runs:03d}-{name}"
        path.mkdir(parents=True)
        return path


class Worker:
    """A client process, controlled by lines on its stdin and stdout."""

    def __init__(self, job: dict[str, Any], directory: Path, name: str) -> None:
        self.job = job
        self.name = name
        self.job_path = directory / f"{name}.json"
        self.result_path = directory / f"{name}.result.json"
        self.log_path = directory / f"{name}.log"
        job["result"] = str(self.result_path)
        self.job_path.write_text(json.dumps(job))
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, env: PeersEnv, ours_source: Path, clients: str = "python") -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("COLLAB_")}
        if clients == "node":
            environ["BENCH_NODE_DIR"] = str(env.node_dir)
            environ["OURS_SOURCE"] = str(ours_source)  # the page's engine of the ours measured
            command = [str(env.node), str(NODE_WORKER), str(self.job_path)]
        else:
            environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(ours_source), str(ROOT)]))
            # ``-m`` puts the working directory first on the path: our client code (sdk,
            # sync) must come from ours_source, bench.peers from ROOT after it.
            command = [str(env.python), "-m", "bench.peers.worker", str(self.job_path)]
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                cwd=ours_source,
                env=environ,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )

    async def expect(self, word: str, timeout: float) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name}: no '{word}' within {timeout:g}s") from None
        if line.decode().strip() != word:
            # The error is at the end of the log: its last lines say why.
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            why = " / ".join(line.strip() for line in lines[-2:]) or f"it said {line!r}"
            raise RuntimeError(f"client process {self.name} ended instead of '{word}': {why}")

    def go(self, t0: float) -> None:
        self.tell(f"go {t0!r}")

    def tell(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())

    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.result_path.read_text())
        return data

    async def finish(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(OSError, AssertionError):
            self.tell("stop")
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


class Meter:
    """CPU seconds of the server, of Prosody (ours) and of PostgreSQL's backends (ours-pg)
    over a window; the machine's busy share; the server's peak RSS while it runs."""

    def __init__(self, server: servers.Server) -> None:
        self.server = server
        self.peak_rss = 0
        self._task: asyncio.Task[None] | None = None

    async def snapshot(self) -> dict[str, Any]:
        prosody = self.server.prosody_pids()
        backends = []
        if self.server.database is not None:
            backends = await servers.backend_pids(self.server.database)
        return {
            "server": cpu_seconds(self.server.pid),
            "prosody": {pid: cpu_seconds(pid) for pid in prosody},
            "database": {pid: cpu_seconds(pid) for pid in backends},
            "machine": MachineTimes.read(),
        }

    def rss(self) -> dict[str, float]:
        out = {"server": rss_bytes(self.server.pid) / MiB}
        prosody = self.server.prosody_pids()
        if prosody:
            out["prosody"] = sum(rss_bytes(pid) for pid in prosody) / MiB
        return out

    def start_sampling(self) -> None:
        async def sample() -> None:
            while True:
                self.peak_rss = max(self.peak_rss, rss_bytes(self.server.pid))
                await asyncio.sleep(0.25)

        self._task = asyncio.create_task(sample())

    async def stop_sampling(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        def spent(a: dict[int, float], b: dict[int, float]) -> float:
            return sum(b[pid] - a.get(pid, 0.0) for pid in b)

        return {
            "server_cpu": round(after["server"] - before["server"], 3),
            "prosody_cpu": round(spent(before["prosody"], after["prosody"]), 3),
            "database_cpu": round(spent(before["database"], after["database"]), 3),
            "machine_busy": round(after["machine"].busy_since(before["machine"]), 3),
        }


async def background_load(below: float, wait: float, sample: float) -> tuple[float, float]:
    """How busy the machine is with nothing of ours running (other people's work shares it),
    sampled again and again for up to ``wait`` seconds until it is less than ``below``;
    returns the last sample and the seconds waited."""
    started = now()
    while True:
        before = MachineTimes.read()
        await asyncio.sleep(sample)
        busy = round(MachineTimes.read().busy_since(before), 3)
        if busy < below or now() - started >= wait:
            return busy, round(now() - started - sample, 1)


async def run(name: str, cell: Cell, ctx: Context) -> dict[str, Any]:
    """Run ``cell`` against server ``name``; never raises: a failure is the result."""
    directory = ctx.next_dir(f"{cell.scenario}-{name}")
    result: dict[str, Any] = {"server": name, "scenario": cell.scenario, "label": cell.label}
    server = None
    workers: list[Worker] = []
    try:
        busy, waited = await background_load(ctx.quiet_below, ctx.quiet_wait, ctx.quiet_sample)
        result["background_busy"], result["waited_for_quiet"] = busy, waited
        server = await servers.start(
            name, ctx.env, directory, ctx.runs, ctx.ours_source, ctx.uvicorn_options
        )
        await asyncio.sleep(0.3)  # let it settle before reading its idle memory
        result["rss_idle"] = Meter(server).rss()
        if server.protocol == "ours":
            await servers.create_document(server, "bench")
        if cell.scenario == "S2":
            result.update(await _trace_cell(server, cell, ctx, directory, workers))
        else:
            result.update(await _markers_cell(server, cell, ctx, directory, workers))
    except Exception as exc:
        result.update(ok=False, failure=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        await asyncio.gather(*(worker.finish() for worker in workers))
        if server is not None:
            if server.process.poll() is not None and result.get("ok"):
                result.update(ok=False, failure=f"{name} died: …{server.log_tail(400)}")
            await servers.stop(server)
            if "Traceback" in server.log_tail(20000):
                result.setdefault("warnings", []).append(f"tracebacks in {server.log_path}")
    return result


def _check_client_code(reports: list[dict[str, Any]], ctx: Context) -> None:
    for report in reports:
        if Path(report["client_code"]) != ctx.ours_source:
            raise RuntimeError(f"clients ran sdk and sync from {report['client_code']}")


async def start_workers(workers: list[Worker], ctx: Context, timeout: float) -> None:
    """The first process opens the document with one client; then all connect the rest."""
    first, *others = workers
    first.job["open"] = True
    first.job_path.write_text(json.dumps(first.job))
    await first.start(ctx.env, ctx.ours_source, ctx.clients)
    await first.expect("opened", timeout)
    for worker in others:
        await worker.start(ctx.env, ctx.ours_source, ctx.clients)
    await asyncio.gather(*(w.expect("ready", timeout) for w in workers))


def participants(cell: Cell) -> list[dict[str, Any]]:
    p = cell.params
    if cell.scenario == "S3":  # participant 0 writes, the others only watch
        return [{"index": 0, "rate": p["rate"]}] + [
            {"index": i, "rate": 0.0} for i in range(1, p["observers"] + 1)
        ]
    return [{"index": i, "rate": p["rate"]} for i in range(p["editors"])]


def with_choices(everyone: list[dict[str, Any]], cell: Cell, seed: int) -> list[dict[str, Any]]:
    """``everyone`` with each one's random choices drawn here, for the JavaScript clients
    (the Python ones draw the same themselves): when each edit is made, and where."""
    out = []
    for x in everyone:
        offsets = schedule(seed, x["index"], x["rate"], cell.params["seconds"])
        fractions = position_fractions(seed, x["index"], len(offsets))
        out.append({**x, "schedule": offsets, "positions": fractions})
    return out


def expected_markers(cell: Cell, seed: int) -> int:
    seconds = cell.params["seconds"]
    return sum(len(schedule(seed, x["index"], x["rate"], seconds)) for x in participants(cell))


async def _markers_cell(
    server: servers.Server, cell: Cell, ctx: Context, directory: Path, workers: list[Worker]
) -> dict[str, Any]:
    p = cell.params
    everyone = participants(cell)
    if ctx.clients == "node":
        everyone = with_choices(everyone, cell, ctx.seed)
    count = max(1, min(p["workers"], len(everyone)))
    if cell.scenario == "S3":  # the writer in a process of its own, observers spread out
        groups = [everyone[:1]] + [everyone[1 + i :: count] for i in range(count)]
    else:
        groups = [everyone[i::count] for i in range(count)]
    expected = expected_markers(cell, ctx.seed)
    for number, group in enumerate(g for g in groups if g):
        job = {
            "kind": "markers",
            "server": server.protocol,
            "url": server.ws_url,
            "doc": "bench",
            "participants": group,
            "seed": ctx.seed,
            "seconds": p["seconds"],
            "expected_markers": expected,
            "drain_timeout": p["drain_timeout"],
            "connect_timeout": p.get("connect_timeout", 120.0),
        }
        workers.append(Worker(job, directory, f"worker{number}"))
    meter = Meter(server)
    await start_workers(workers, ctx, p.get("connect_timeout", 120.0))
    rss_connected = meter.rss()
    before = await meter.snapshot()
    meter.start_sampling()
    t0 = now() + 0.25
    for worker in workers:
        worker.go(t0)
    limit = p["seconds"] + p["drain_timeout"] + 60
    await asyncio.gather(*(w.expect("done", limit) for w in workers))
    after = await meter.snapshot()
    await meter.stop_sampling()
    reports = [w.result() for w in workers]
    _check_client_code(reports, ctx)
    found = analysis.markers(server.protocol, reports, expected)
    window = max(r["done"] for r in reports) - t0
    usage = Meter.delta(before, after)
    delivered = found["delivered"] or 1
    return {
        **found,
        "params": p,
        "clients": len(everyone),
        "client_processes": len(workers),
        "window": round(window, 3),
        "edit_rate": round(found["edits"] / p["seconds"], 1),
        # from the last edit until every client held every edit (and ours: acknowledged)
        "drain": round(max(r["done"] for r in reports) - (found.pop("last_edit") or t0), 3),
        "rss_connected": rss_connected,
        "rss_peak": round(meter.peak_rss / MiB, 1),
        **usage,
        "client_cpu": round(sum(r["cpu"] for r in reports), 3),
        "server_us_per_message": round(usage["server_cpu"] / delivered * 1e6, 1),
        "prosody_us_per_message": round(usage["prosody_cpu"] / delivered * 1e6, 1),
        "database_us_per_message": round(usage["database_cpu"] / delivered * 1e6, 1),
    }


def keystrokes_json(ctx: Context, limit: int | None) -> Path:
    """The trace as plain JSON, for the JavaScript clients: written once per run."""
    path = ctx.workdir / f"keystrokes-{limit}.json"
    if not path.exists():
        trace = load_trace(ctx.trace, limit)
        path.write_text(json.dumps({"keystrokes": trace.keystrokes, "end": trace.end}))
    return path


async def _trace_cell(
    server: servers.Server, cell: Cell, ctx: Context, directory: Path, workers: list[Worker]
) -> dict[str, Any]:
    p = cell.params
    keystrokes_file = keystrokes_json(ctx, p.get("limit")) if ctx.clients == "node" else None
    for role in ("observer", "writer"):
        job = {
            "kind": "trace",
            "role": role,
            "server": server.protocol,
            "url": server.ws_url,
            "doc": "bench",
            "trace": str(ctx.trace),
            "limit": p.get("limit"),
            "keystrokes": str(keystrokes_file) if keystrokes_file else None,
            "frame_ms": p["frame_ms"],
            "timeout": p["timeout"],
            "stall_timeout": p["stall_timeout"],
        }
        workers.append(Worker(job, directory, role))
    meter = Meter(server)
    await start_workers(workers, ctx, 120.0)
    before = await meter.snapshot()
    meter.start_sampling()
    t0 = now() + 0.25
    for worker in workers:
        worker.go(t0)
    await asyncio.gather(*(w.expect("done", p["timeout"] + 60) for w in workers))
    after = await meter.snapshot()
    await meter.stop_sampling()
    observer, writer = (w.result() for w in workers)
    _check_client_code([observer, writer], ctx)
    found = analysis.trace(writer, observer, t0)
    usage = Meter.delta(before, after)
    keystrokes = p["keystrokes"]
    return {
        **found,
        "params": p,
        "keystrokes": keystrokes,
        "keystrokes_per_second": (
            round(keystrokes / found["seconds"]) if found.get("seconds") else None
        ),
        "rss_peak": round(meter.peak_rss / MiB, 1),
        **usage,
        "client_cpu": round(writer["cpu"] + observer["cpu"], 3),
        "server_us_per_keystroke": round(usage["server_cpu"] / keystrokes * 1e6, 1),
    }
