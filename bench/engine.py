"""How fast is the sync engine on its own? No network, no storage, one process.

    python -m bench.engine [--only NAME ...] [--keystrokes N] [--no-memory] [--json PATH]

1. Real traces (josephg/editing-traces, by Joseph Gentle and JSON Joy, CC BY 4.0), each
   replayed through a typist, the server and a reader as in ``bench/replay.py``: keystrokes
   per second for the whole pipeline, microseconds per call (p50/p99) for every engine step,
   and the peak memory the replay allocates (tracemalloc, in a second, untimed pass: tracing
   slows Python down several times).
2. A 1 MB document, all ASCII and with some emoji (which makes Python store every character
   in 4 bytes), and keystrokes scattered over it, each a full round trip: what one keystroke
   costs the typist, the server and a reader, next to what diffing the whole document costs.

3. Per revision, on a 1 KB and a 1 MB document (ASCII, and with emoji): what sequencing one
   keystroke costs the server, and what folding the revision costs a reader with nothing
   unconfirmed. ``--revisions-only`` runs just this part (``frontend/bench/fold.mjs`` is the
   JavaScript twin's).

The report goes to stdout, progress to stderr, everything to ``--json PATH``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from diff_match_patch import diff_match_patch

from bench.replay import TRACE_DIR, TRACE_NAMES, load_trace, replay
from sync import ops, patches
from sync import text as sync_text
from sync.client import ClientState, SyncClient
from sync.protocol import Edit, OpId, Synced
from sync.server import Sequencer

MB = 1_000_000


def log(message: str, *, end: str = "\n") -> None:
    print(message, end=end, file=sys.stderr, flush=True)


# -- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stat:
    """Microseconds per call."""

    calls: int
    p50: float
    p99: float
    mean: float
    max: float


def stat(samples_ns: Sequence[int]) -> Stat:
    if not samples_ns:
        return Stat(0, math.nan, math.nan, math.nan, math.nan)
    ordered = sorted(samples_ns)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] / 1000

    return Stat(n, at(0.50), at(0.99), sum(ordered) / n / 1000, ordered[-1] / 1000)


def timed(call: Callable[[], object], repeat: int) -> list[int]:
    out = []
    for _ in range(repeat):
        t0 = perf_counter_ns()
        call()
        out.append(perf_counter_ns() - t0)
    return out


# -- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


# -- 1. traces --------------------------------------------------------------------------------


def bench_trace(path: Path, *, memory: bool) -> dict[str, Any]:
    trace = load_trace(path)
    name = trace.name

    def progress(done: int, total: int) -> None:
        log(f"\r  {name}: {done:,}/{total:,} transactions", end="")

    run = replay(trace, progress=progress)
    log(f"\r  {name}: {len(trace.txns):,} transactions in {run.wall_ns / 1e9:.1f} s" + " " * 10)
    ok = (
        run.settled
        and run.server.text == run.typist.text == run.reader.text == trace.end
        and not run.typist.has_unconfirmed
    )
    if not ok:
        raise SystemExit(f"{name}: the replay did not end at the trace's endContent")
    peak = None
    if memory:
        log(f"  {name}: again under tracemalloc for the peak memory")
        tracemalloc.start()
        try:
            replay(trace, record=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    t = run.timings
    seconds = run.wall_ns / 1e9
    return {
        "trace": name,
        "transactions": len(trace.txns),
        "keystrokes": trace.patches,
        "revisions": run.server.rev,
        "final_length": len(trace.end),
        "seconds": seconds,
        "keystrokes_per_s": trace.patches / seconds,
        "revisions_per_s": run.server.rev / seconds,
        "peak_mib": None if peak is None else peak / 2**20,
        "us": {
            "type": asdict(stat(t.type)),
            "flush": asdict(stat(t.flush)),
            "submit": asdict(stat(t.submit)),
            "fold": asdict(stat(t.fold)),
            "ack": asdict(stat(t.ack)),
        },
    }


# -- 2. a large document ---------------------------------------------------------------------

WORDS = (
    *("the", "sync", "engine", "keeps", "a", "shadow", "of", "server", "and", "rebases"),
    *("local", "edits", "over", "remote", "revisions", "so", "that", "every", "copy"),
    *("converges", "while", "people", "type"),
)


def large_text(size: int, *, emoji: bool, rng: random.Random) -> str:
    """About ``size`` characters of word-like text in lines; with ``emoji``, one emoji in
    roughly every 500 characters (enough to make the string 4 bytes per character)."""
    out: list[str] = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        if emoji and rng.random() < 0.15:
            cut = rng.randint(0, len(line))
            line = line[:cut] + rng.choice("😀🎉🚀👍🏽中文") + line[cut:]
        out.append(line)
        length += len(line) + 1
    return "\n".join(out)[:size]


def connected(client_id: str, server: Sequencer) -> SyncClient:
    client = SyncClient(client_id, text=server.text, rev=server.rev)
    client.connect()
    client.receive(Synced(server.rev))
    assert client.state is ClientState.READY
    return client


def bench_large(size: int, *, emoji: bool, keystrokes: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    text = large_text(size, emoji=emoji, rng=rng)
    label = f"{len(text) / MB:.0f} MB {'with emoji' if emoji else 'ASCII'}"
    log(f"  {label}: {keystrokes} keystrokes, each a full round trip")
    server = Sequencer(text)
    typist = connected("typist", server)
    reader = connected("reader", server)
    steps: dict[str, list[int]] = {"type": [], "flush": [], "submit": [], "fold": [], "ack": []}
    clock = perf_counter_ns
    for k in range(keystrokes):
        position = rng.randrange(len(typist.text))
        t0 = clock()
        if rng.random() < 0.8:
            typist.replace(position, 0, rng.choice("abcdefgh ") if not emoji else "é😀x"[k % 3])
        else:
            typist.replace(position, 1, "")
        t1 = clock()
        [edit] = typist.flush()
        t2 = clock()
        assert isinstance(edit, Edit)
        revision = server.submit(edit, "typist").revision
        t3 = clock()
        reader.receive(revision)
        t4 = clock()
        typist.receive(revision)
        t5 = clock()
        for key, ns in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            steps[key].append(ns)
    assert server.text == typist.text == reader.text
    assert not typist.has_unconfirmed

    # What the engine avoids: finding what changed by diffing the whole document, as a
    # client that only knows "old text, new text" would. diff-match-patch trims the common
    # prefix and suffix first (at C speed), so one change is cheap; scattered changes, as in
    # a batch of keystrokes, go through its bisection.
    log(f"  {label}: whole-document diffs and O(n) primitives")
    head = server.text
    middle = len(head) // 2
    dmp = diff_match_patch()  # the port's default: Diff_Timeout = 1 s
    diffs: dict[str, list[int]] = {}
    for changes in (1, 10, 100):
        changed = head
        for _ in range(changes):
            at = rng.randrange(len(changed))
            changed = changed[:at] + "x" + changed[at:]
        name = f"diff_main, whole document, {changes} scattered change(s)"
        diffs[name] = timed(partial(dmp.diff_main, head, changed), 5)
    insert_op = ops.replace(len(head), middle, "", "x")
    patch = patches.patch_text(head, insert_op)
    hunks = patches.parse_patch(patch)
    primitives = {
        "checksum, from scratch": timed(lambda: sync_text.checksum(head), 5),
        "ops.apply (one insert: a new string)": timed(lambda: ops.apply(head, insert_op), 20),
        "patches.patch_text (one insert)": timed(lambda: patches.patch_text(head, insert_op), 20),
        "patches.apply_patch (one hunk)": timed(lambda: patches.apply_patch(head, hunks), 20),
        "str.find of a 30-character pattern": timed(lambda: head.find("q" * 30), 20),
    }
    if hasattr(sync_text, "update_checksum"):  # (not in an engine from before version 2)
        known, after = sync_text.checksum(head), ops.apply(head, insert_op)
        primitives["update_checksum, one insert"] = timed(
            lambda: sync_text.update_checksum(known, head, insert_op, after), 20
        )
    return {
        "document": label,
        "length": len(head),
        "bytes_in_memory": sys.getsizeof(head),
        "keystrokes": keystrokes,
        "us": {key: asdict(stat(samples)) for key, samples in steps.items()},
        "diff_us": {key: asdict(stat(samples)) for key, samples in diffs.items()},
        "primitives_us": {key: asdict(stat(samples)) for key, samples in primitives.items()},
    }


# -- 3. per revision, small and large -----------------------------------------------------------

KB = 1_000


def bench_revisions(size: int, *, emoji: bool, revisions: int, seed: int) -> dict[str, Any]:
    """Each keystroke is sequenced by the server (``submit``) and folded by a reader
    (``receive``), timed apart. The edits are made beforehand on the server's text, untimed,
    so the writer's own costs are left out. A few untimed revisions first let every party
    learn its checksums."""
    rng = random.Random(seed)
    text = large_text(size, emoji=emoji, rng=rng)
    label = f"{_size(len(text))} {'with emoji' if emoji else 'ASCII'}"
    log(f"  {label}: {revisions} revisions, sequenced and folded")
    server = Sequencer(text)
    reader = connected("reader", server)
    steps: dict[str, list[int]] = {"sequence": [], "fold": []}
    clock = perf_counter_ns
    for k in range(-5, revisions):
        head = server.text
        position = rng.randrange(len(head) + 1)
        if rng.random() < 0.8 or position == len(head):
            typed = "😀" if emoji and k % 3 == 0 else rng.choice("abcdefgh ")
            op = ops.replace(len(head), position, "", typed)
        else:
            op = ops.replace(len(head), position, head[position], "")
        edit = Edit(server.rev, OpId("writer", k + 6), patches.patch_text(head, op))
        t0 = clock()
        revision = server.submit(edit, "writer").revision
        t1 = clock()
        reader.receive(revision)
        t2 = clock()
        if k >= 0:
            steps["sequence"].append(t1 - t0)
            steps["fold"].append(t2 - t1)
    assert reader.text == server.text and reader.rev == server.rev
    return {
        "document": label,
        "length": len(server.text),
        "revisions": revisions,
        "us": {key: asdict(stat(samples)) for key, samples in steps.items()},
    }


def _size(length: int) -> str:
    return f"{length / MB:.0f} MB" if length >= MB else f"{length / KB:.0f} KB"


# -- the report ------------------------------------------------------------------------------


def _us(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value >= 10_000:
        return f"{value / 1000:,.0f} ms"
    if value >= 1000:
        return f"{value / 1000:,.1f} ms"
    return f"{value:,.0f} µs" if value >= 10 else f"{value:.1f} µs"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        ),
        "  ".join("-" * w for w in widths),
    ]
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _p(entry: dict[str, Any]) -> str:
    return f"{_us(entry['p50'])} / {_us(entry['p99'])}"


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"{m['implementation']} {m['python']} on {m['platform']}",
        "",
    ]
    if results["traces"]:
        out.append(
            "Traces (josephg/editing-traces by Joseph Gentle and JSON Joy, CC BY 4.0): typist, "
            "server and reader; per call p50 / p99"
        )
        header = [
            "trace",
            "keys",
            "revs",
            "chars",
            "keys/s",
            "type",
            "flush",
            "submit",
            "fold",
            "ack",
            "peak",
        ]
        rows = []
        for r in results["traces"]:
            us = r["us"]
            peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f} MiB"
            rows.append(
                [
                    r["trace"],
                    f"{r['keystrokes']:,}",
                    f"{r['revisions']:,}",
                    f"{r['final_length']:,}",
                    f"{r['keystrokes_per_s']:,.0f}",
                    _p(us["type"]),
                    _p(us["flush"]),
                    _p(us["submit"]),
                    _p(us["fold"]),
                    _p(us["ack"]),
                    peak,
                ]
            )
        out += [_table(header, rows), ""]
    for r in results["large"]:
        out.append(
            f"{r['document']} ({r['length']:,} characters, {r['bytes_in_memory'] / MB:.1f} MB "
            f"as a Python str): {r['keystrokes']} keystrokes at random places"
        )
        rows = [[step, _us(s["p50"]), _us(s["p99"])] for step, s in r["us"].items()]
        total = sum(s["p50"] for s in r["us"].values())
        rows.append(["round trip (sum of the p50s above)", _us(total), ""])
        for section in ("diff_us", "primitives_us"):
            for name, s in r[section].items():
                rows.append([name, _us(s["p50"]), _us(s["p99"])])
        out += [_table(["per keystroke / per call", "p50", "p99"], rows), ""]
    if results.get("revisions"):
        out.append("Per revision: sequenced by the server, folded by a reader (p50 / p99 / mean)")
        rows = [
            [
                f"{r['document']} ({r['length']:,} characters)",
                *(
                    f"{_us(s['p50'])} / {_us(s['p99'])} / {_us(s['mean'])}"
                    for s in (r["us"]["sequence"], r["us"]["fold"])
                ),
            ]
            for r in results["revisions"]
        ]
        out += [_table(["document", "sequence an edit", "fold a revision"], rows), ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--traces", type=Path, default=TRACE_DIR, help="folder of *.json.gz traces")
    parser.add_argument("--only", nargs="+", choices=TRACE_NAMES, help="replay only these traces")
    parser.add_argument("--no-traces", action="store_true", help="skip the trace replays")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc passes")
    parser.add_argument("--keystrokes", type=int, default=200, help="on the large documents")
    parser.add_argument("--size", type=int, default=MB, help="large document size (characters)")
    parser.add_argument("--revisions", type=int, default=2000, help="per document, in part 3")
    parser.add_argument(
        "--revisions-only", action="store_true", help="run only part 3 (per revision)"
    )
    parser.add_argument("--json", type=Path, help="write all results here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": machine(), "traces": [], "large": [], "revisions": []}
    if args.revisions_only:
        args.no_traces = True
    if not args.no_traces:
        names = args.only or TRACE_NAMES
        missing = [n for n in names if not (args.traces / f"{n}.json.gz").exists()]
        if missing:
            log(f"traces not found in {args.traces}: {', '.join(missing)} (skipped)")
        for name in names:
            if name not in missing:
                results["traces"].append(
                    bench_trace(args.traces / f"{name}.json.gz", memory=not args.no_memory)
                )
    for emoji in (False, True):
        if not args.revisions_only:
            results["large"].append(
                bench_large(args.size, emoji=emoji, keystrokes=args.keystrokes, seed=1)
            )
    for emoji in (False, True):
        for size in (KB, MB):
            results["revisions"].append(
                bench_revisions(size, emoji=emoji, revisions=args.revisions, seed=2)
            )
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
