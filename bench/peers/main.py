"""``python -m bench.peers [--quick] ...``: build the peers' environment, run every scenario
against every server, interleaved, print the tables, write the report files.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.peers import cells, env, report, servers
from bench.peers.cells import Cell, Context

TRACE = "automerge-paper"
PROBE_KS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "s1_ks": [2, 8],
            "s1_seconds": 2.0,
            "s2_limit": 5_000,
            "s3_ns": [30],
            "s3_seconds": 2.0,
            "drain_timeout": 15.0,
            "probe": False,
        }
    return {
        "s1_ks": [2, 16, 64],
        "s1_seconds": 20.0,
        "s2_limit": None,
        "s3_ns": [100, 500],
        "s3_seconds": 20.0,
        "drain_timeout": 30.0,
        "probe": True,
        "probe_seconds": 10.0,
    }


def s1_cell(k: int, seconds: float, size: dict[str, Any], workers: int, label: str = "") -> Cell:
    params = {
        "editors": k,
        "rate": 5.0,
        "seconds": seconds,
        "workers": workers,
        "drain_timeout": size["drain_timeout"],
    }
    return Cell("S1", label or f"K={k}", params)


def plan(size: dict[str, Any], kmax: int | None, keystrokes: int, workers: int) -> list[Cell]:
    ks = list(size["s1_ks"])
    if kmax is not None and kmax not in ks:
        ks.append(kmax)
    out = [
        s1_cell(k, size["s1_seconds"], size, workers, f"K={k}" + (" (max)" if k == kmax else ""))
        for k in sorted(ks)
    ]
    for frame_ms, label in ((0, "per keystroke"), (16, "per 16 ms frame")):
        params = {
            "frame_ms": frame_ms,
            "limit": size["s2_limit"],
            "keystrokes": keystrokes,
            "timeout": 900.0,
            "stall_timeout": 60.0,
        }
        out.append(Cell("S2", label, params))
    for n in size["s3_ns"]:
        params = {
            "observers": n,
            "rate": 20.0,
            "seconds": size["s3_seconds"],
            "workers": workers,
            "drain_timeout": size["drain_timeout"],
            "connect_timeout": 180.0,
        }
        out.append(Cell("S3", f"N={n}", params))
    return out


def _chosen(cell: Cell, wanted: list[str]) -> bool:
    return any(f"{cell.scenario}:{cell.label}".startswith(w) for w in wanted)


CLIENTS = {
    "python": "Python (bench/peers/worker.py: pycrdt for Yjs, sdk.websocket for ours)",
    "node": "JavaScript (bench/peers/node/worker.mjs: yjs for Yjs, the page's engine for ours)",
}

# What is taken of ours: the server, and the clients (the Python ones and the page's engine).
OURS_PATHS = ("app", "sdk", "sync", "frontend/src")


def snapshot(ref: str, target: Path) -> tuple[Path, str]:
    """Where ours is imported from, and what it is: commit ``ref`` extracted with
    ``git archive``, so that work in progress in the tree is not what gets measured, or with
    ``worktree`` the tree as it is."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=env.ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD" if ref == "worktree" else ref)
    if ref == "worktree":
        changed = git("status", "--porcelain", *OURS_PATHS)
        return env.ROOT, f"work tree at {commit}" + (" with uncommitted changes" if changed else "")
    target.mkdir(parents=True)
    command = ["git", "archive", commit, *OURS_PATHS]
    archive = subprocess.run(command, cwd=env.ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    # The page's engine imports its npm packages (diff-match-patch): the project's own
    # installation of them, at the versions of the work tree's frontend/package-lock.json.
    (target / "frontend" / "node_modules").symlink_to(env.ROOT / "frontend" / "node_modules")
    return target, f"commit {commit}"


def sustains(result: dict[str, Any], p99_ms: float) -> bool:
    p99 = (result.get("latency") or {}).get("p99")
    return bool(result.get("ok")) and p99 is not None and p99 <= p99_ms


async def probe(ctx: Context, size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The largest K ours sustains: all pairs delivered and p99 within ``--sustain-p99-ms``,
    in runs of ``probe_seconds``. Starts at 64 and walks up, or down, the list."""
    tried: dict[int, dict[str, Any]] = {}

    async def attempt(k: int) -> bool:
        cell = s1_cell(k, size["probe_seconds"], size, args.workers)
        result = await cells.run("ours", cell, ctx)
        tried[k] = result
        good = sustains(result, args.sustain_p99_ms)
        p99 = (result.get("latency") or {}).get("p99")
        progress(f"probe ours K={k}: p99 {p99} ms, {'sustained' if good else 'not sustained'}")
        return good

    at = PROBE_KS.index(64)
    best = None
    if await attempt(PROBE_KS[at]):
        best = PROBE_KS[at]
        for k in PROBE_KS[at + 1 :]:
            if not await attempt(k):
                break
            best = k
    else:
        for k in reversed(PROBE_KS[:at]):
            if await attempt(k):
                best = k
                break
    summary = {
        k: {"ok": r.get("ok"), "p99": (r.get("latency") or {}).get("p99"), "why": r.get("failure")}
        for k, r in sorted(tried.items())
    }
    return {"kmax": best, "criterion_p99_ms": args.sustain_p99_ms, "tried": summary}


async def run(args: argparse.Namespace) -> int:
    size = sizes(args.quick)
    peers_env = env.ensure()
    versions = peers_env.versions()
    trace_path = Path(args.traces) / f"{TRACE}.json.gz"
    if not trace_path.exists():
        print(f"the trace {trace_path} is missing (see ../shared/traces/README.md)")
        return 2
    from bench.peers.plan import load_trace

    keystrokes = len(load_trace(trace_path, size["s2_limit"]).keystrokes)
    names = [s for s in args.servers.split(",") if s]
    unknown = set(names) - set(servers.SERVERS)
    if unknown:
        print(f"unknown servers: {', '.join(sorted(unknown))} (known: {servers.SERVERS})")
        return 2
    skipped: dict[str, str] = {}
    if "ours-pg" in names:
        why = await servers.postgres_reachable()
        if why:
            skipped["ours-pg"] = why
            names.remove("ours-pg")
    workdir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    ours_source, ours_version = snapshot(args.ours_ref, workdir / "ours-source")
    versions["ours"] = ours_version
    ctx = Context(peers_env, workdir, trace_path, args.seed, ours_source)
    ctx.uvicorn_options = servers.uvicorn_options(ours_source)
    ctx.clients = args.clients
    versions["clients"] = CLIENTS[args.clients]
    versions["uvicorn options (ours, and pycrdt)"] = str(ctx.uvicorn_options or "defaults")
    ctx.quiet_below, ctx.quiet_wait = args.quiet_below, 0.0 if args.quick else args.quiet_wait
    ctx.quiet_sample = 0.3 if args.quick else 1.0
    progress(f"servers {names}; work directory {workdir}")
    try:
        found = {"kmax": None, "tried": {}, "note": "not probed (--quick or --no-probe)"}
        if size["probe"] and not args.no_probe and "ours" in names:
            found = await probe(ctx, size, args)
        results: list[dict[str, Any]] = []
        if args.s1_ks:
            size["s1_ks"] = [int(k) for k in args.s1_ks.split(",") if k]
        plan_cells = plan(size, found["kmax"], keystrokes, args.workers)
        if args.only:
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            plan_cells = [c for c in plan_cells if _chosen(c, wanted)]
        for round_number in range(args.rounds):
            for number, cell in enumerate(plan_cells):
                turn = (number + round_number) % len(names)
                for name in names[turn:] + names[:turn]:  # interleaved, order rotating
                    progress(f"round {round_number + 1}: {cell.scenario} {cell.label} on {name}")
                    result = await cells.run(name, cell, ctx)
                    result["round"] = round_number + 1
                    progress("  " + report.one_line(result))
                    results.append(result)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            progress(f"kept {workdir}")
    document = report.collect(args, versions, names, skipped, found, results, size, keystrokes)
    markdown = report.markdown(document)
    print(markdown)
    if args.output:
        out = Path(args.output)
        report.write(out.with_suffix(".md"), markdown)
        out.with_suffix(".json").write_text(json.dumps(document, indent=1, default=str) + "\n")
        progress(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


def render(path: Path) -> int:
    """Write the Markdown report again from saved results (after the template changed)."""
    document = json.loads(path.read_text())
    report.write(path.with_suffix(".md"), report.markdown(document))
    progress(f"wrote {path.with_suffix('.md')}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs: checks the harness")
    parser.add_argument(
        "--servers", default=",".join(servers.SERVERS), help="comma-separated, default: all"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole plan")
    parser.add_argument("--workers", type=int, default=2, help="client processes per cell")
    parser.add_argument(
        "--clients",
        choices=sorted(CLIENTS),
        default="python",
        help="what the client processes run (the same for every server)",
    )
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--no-probe", action="store_true", help="skip the search for ours' max K")
    parser.add_argument("--sustain-p99-ms", type=float, default=500.0)
    parser.add_argument("--traces", default=str(env.ROOT.parent / "shared" / "traces"))
    parser.add_argument(
        "--output",
        help="write OUTPUT.md and OUTPUT.json (default: docs/benchmarks-peers for a full run, "
        "nothing for --quick)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.3,
        help="before each cell, wait until the machine is less busy than this share (0-1)...",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="...for at most this many seconds"
    )
    parser.add_argument(
        "--ours-ref",
        default="HEAD",
        help="the commit of ours to run (default HEAD), or 'worktree' for the tree as it is",
    )
    parser.add_argument(
        "--only",
        help="run only these cells: comma-separated prefixes of SCENARIO:LABEL, e.g. "
        "'S1:K=64,S3:N=500' (with --no-probe, and --output to keep the results)",
    )
    parser.add_argument("--s1-ks", help="S1's editor counts instead of 2,16,64, e.g. '64,96'")
    parser.add_argument("--render", metavar="JSON", help="only rewrite JSON's Markdown report")
    args = parser.parse_args(argv)
    if args.render:
        sys.exit(render(Path(args.render)))
    if args.output is None and not args.quick:
        name = "benchmarks-peers-js" if args.clients == "node" else "benchmarks-peers"
        args.output = str(env.ROOT / "docs" / name)
    sys.exit(asyncio.run(run(args)))
