"""The tables: every server a column, then ours as ratios to each peer; the Markdown report
(``template.md`` around the generated tables) and the raw JSON.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

Result = dict[str, Any]
Metric = Callable[[Result], Any]
OURS = ("ours", "ours-pg")
PEERS = ("node", "pycrdt")
READING = re.compile(r"<!-- reading -->.*?<!-- /reading -->", re.S)


def one_line(r: Result) -> str:
    if not r.get("ok"):
        return f"FAILED: {str(r.get('failure'))[:300]}"
    if r["scenario"] == "S2":
        return f"{r['seconds']} s, {r['keystrokes_per_second']} keystrokes/s"
    lat = r["latency"]
    return (
        f"p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, "
        f"{r['delivered']}/{r['pairs']} pairs, server {r['server_cpu']} s CPU, "
        f"clients {r['client_cpu']} s, machine {r['machine_busy']:.0%}"
    )


def _machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def collect(
    args: Any,
    versions: dict[str, str],
    names: list[str],
    skipped: dict[str, str],
    probe: dict[str, Any],
    results: list[Result],
    size: dict[str, Any],
    keystrokes: int,
) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "-m", "bench.peers", *sys.argv[1:]]),
        "quick": args.quick,
        "rounds": args.rounds,
        "seed": args.seed,
        "workers": args.workers,
        "clients": getattr(args, "clients", "python"),
        "machine": _machine(),
        "versions": versions,
        "servers": names,
        "skipped": skipped,
        "sizes": size,
        "keystrokes": keystrokes,
        "probe": probe,
        "results": results,
    }


# -- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    metric: Metric
    fmt: str = "{:.1f}"
    ratio: bool = True  # show ours / peer
    only: tuple[str, ...] | None = None  # servers the row applies to


class Table:
    """Rows of (group, metric); a column per server, then one per (ours, peer) ratio. With
    several rounds, a number is the median of the rounds that passed."""

    def __init__(self, doc: dict[str, Any], footnotes: list[str]) -> None:
        self.servers = doc["servers"]
        present = self.servers
        self.ratios = [(o, p) for o in OURS if o in present for p in PEERS if p in present]
        self.footnotes = footnotes
        self.rows: list[list[str]] = []
        self.groups: dict[tuple[str, str], list[Result]] = {}
        self._failed: dict[tuple[str, str], str] = {}

    def add(self, group: str, result: Result) -> None:
        self.groups.setdefault((group, result["server"]), []).append(result)

    def labels(self) -> list[str]:
        return list(dict.fromkeys(group for group, _server in self.groups))

    def _value(self, group: str, server: str, metric: Metric) -> Any:
        runs = [r for r in self.groups.get((group, server), []) if r.get("ok")]
        values = [v for v in map(metric, runs) if v is not None]
        if not values:
            return None
        return values[0] if isinstance(values[0], str) else statistics.median(values)

    def _failure(self, group: str, server: str) -> str | None:
        runs = self.groups.get((group, server), [])
        if not runs or any(r.get("ok") for r in runs):
            return None
        if (group, server) not in self._failed:
            reason = " ".join(str(runs[0].get("failure")).split())[:400]  # one line
            self.footnotes.append(f"{runs[0]['scenario']} {runs[0]['label']} on {server}: {reason}")
            self._failed[(group, server)] = f"FAILED [{len(self.footnotes)}]"
        return self._failed[(group, server)]

    def block(self, group: str, rows: list[Row]) -> None:
        for row in rows:
            cells, values = [group, row.name], {}
            for server in self.servers:
                if row.only is not None and server not in row.only:
                    cells.append("")
                    continue
                failed = self._failure(group, server)
                value = values[server] = self._value(group, server, row.metric)
                if failed:
                    cells.append(failed)
                elif value is None:
                    cells.append("–")
                else:
                    cells.append(value if isinstance(value, str) else row.fmt.format(value))
            for ours, peer in self.ratios:
                a, b = values.get(ours), values.get(peer)
                numbers = isinstance(a, int | float) and isinstance(b, int | float) and b > 0
                cells.append(f"{a / b:.2f}×" if row.ratio and numbers else "")
            self.rows.append(cells)

    def render(self, first: str) -> str:
        head = [first, "", *self.servers, *(f"{o} / {p}" for o, p in self.ratios)]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def _lat(key: str) -> Metric:
    return lambda r: (r.get("latency") or {}).get(key)


def _total_us(r: Result) -> float | None:
    keys = ("server_us_per_message", "prosody_us_per_message", "database_us_per_message")
    return sum(r.get(k) or 0.0 for k in keys) if "server_us_per_message" in r else None


def _cores(r: Result) -> float | None:
    window = r.get("window") or r.get("seconds")
    return r["client_cpu"] / window if window else None


LOAD_ROWS = [
    Row("machine busy", lambda r: r["machine_busy"] * 100, "{:.0f} %", ratio=False),
    # Other people's work on the same machine, measured just before the cell started.
    Row("machine busy before (others)", lambda r: r["background_busy"] * 100, "{:.0f} %", False),
]
CPU_ROWS = [
    Row("server CPU per delivered message (µs)", lambda r: r["server_us_per_message"]),
    Row("… Prosody (µs)", lambda r: r["prosody_us_per_message"], ratio=False, only=OURS),
    Row(
        "… PostgreSQL backends (µs)",
        lambda r: r["database_us_per_message"],
        ratio=False,
        only=("ours-pg",),
    ),
    Row("all server processes (µs)", _total_us),
]
LATENCY_ROWS = [
    Row("p50 (ms)", _lat("p50")),
    Row("p95 (ms)", _lat("p95")),
    Row("p99 (ms)", _lat("p99")),
    Row("max (ms)", _lat("max")),
    Row("pairs delivered", lambda r: f"{r['delivered']:,} / {r['pairs']:,}", ratio=False),
    *CPU_ROWS,
    Row("client CPU (cores, of 2)", _cores, "{:.2f}", ratio=False),
    *LOAD_ROWS,
]


def _scenario(doc: dict[str, Any], notes: list[str], scenario: str, rows: list[Row]) -> str:
    table = Table(doc, notes)
    for r in doc["results"]:
        if r["scenario"] == scenario:
            table.add(r["label"], r)
    for label in table.labels():
        table.block(label, rows)
    return table.render(scenario)


def s1(doc: dict[str, Any], notes: list[str]) -> str:
    return _scenario(doc, notes, "S1", LATENCY_ROWS)


def s3(doc: dict[str, Any], notes: list[str]) -> str:
    rss = [
        Row("server RSS, all connected (MiB)", lambda r: r["rss_connected"]["server"]),
        Row("server RSS, peak (MiB)", lambda r: r["rss_peak"]),
    ]
    return _scenario(doc, notes, "S3", LATENCY_ROWS + rss)


def s2(doc: dict[str, Any], notes: list[str]) -> str:
    rows = [
        Row("seconds until the observer's text = endContent", lambda r: r["seconds"], "{:.2f}"),
        Row("keystrokes per second", lambda r: r["keystrokes_per_second"], "{:,.0f}"),
        Row("writer done typing (s)", lambda r: r["typing_seconds"], "{:.2f}"),
        Row("messages the writer sent", lambda r: r["writer_messages"], "{:,.0f}", False),
        Row("server CPU per keystroke (µs)", lambda r: r["server_us_per_keystroke"]),
        Row("… Prosody CPU (s)", lambda r: r["prosody_cpu"], "{:.2f}", False, OURS),
        Row("client CPU (cores, of 2)", _cores, "{:.2f}", ratio=False),
        *LOAD_ROWS,
    ]
    return _scenario(doc, notes, "S2", rows)


def resources(doc: dict[str, Any], notes: list[str]) -> str:
    """Idle memory (each cell starts a fresh server: the median over them all), and memory and
    CPU with the most connections (the largest S3)."""
    table = Table(doc, notes)
    s3_labels = {r["label"] for r in doc["results"] if r["scenario"] == "S3"}
    biggest = max(s3_labels, key=_n, default=None)
    for r in doc["results"]:
        table.add("idle", {**r, "ok": True})  # every server started, whatever came after
        if r["scenario"] == "S3" and r["label"] == biggest:
            table.add(f"{_n(biggest)} connections", r)
    table.block(
        "idle",
        [
            Row("server RSS (MiB)", lambda r: (r.get("rss_idle") or {}).get("server")),
            Row("Prosody RSS (MiB)", lambda r: (r.get("rss_idle") or {}).get("prosody"), only=OURS),
        ],
    )
    if biggest:
        table.block(
            f"{_n(biggest)} connections",
            [
                Row("server RSS, all connected (MiB)", lambda r: r["rss_connected"]["server"]),
                Row("Prosody RSS (MiB)", lambda r: r["rss_connected"].get("prosody"), only=OURS),
                Row("server RSS, peak (MiB)", lambda r: r["rss_peak"]),
                *CPU_ROWS,
            ],
        )
    return table.render("")


def _n(label: str) -> int:
    return int(label.split("=")[1])


def markdown(doc: dict[str, Any]) -> str:
    notes: list[str] = []
    parts = {
        "s1": s1(doc, notes),
        "s2": s2(doc, notes),
        "s3": s3(doc, notes),
        "resources": resources(doc, notes),
    }
    template = Template((Path(__file__).parent / "template.md").read_text())
    machine = doc["machine"]
    versions = doc["versions"]
    probe = doc["probe"]
    clients = doc.get("clients", "python")
    return template.substitute(
        title=TITLES[clients],
        raw=RAW[clients],
        clients=CLIENTS[clients],
        date=doc["date"],
        command=doc["command"],
        machine=f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}",
        versions=", ".join(f"{k} {v}" for k, v in versions.items()),
        kmax=probe.get("kmax") or "not found",
        probe=_probe_line(probe),
        skipped="; ".join(f"{k}: {v}" for k, v in doc["skipped"].items()) or "none",
        footnotes="\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1)) or "None.",
        **parts,
    )


TITLES = {
    "python": "Benchmarks: our server next to the Yjs reference servers",
    "node": "Benchmarks: our server next to the Yjs reference servers, with JavaScript clients",
}
RAW = {"python": "benchmarks-peers.json", "node": "benchmarks-peers-js.json"}
CLIENTS = {
    "python": """\
`python -m bench.peers.worker` in the peers' venv, each running many clients in one asyncio loop
(two processes by default; S3's writer has a third to itself). For the Yjs servers a client is a
pycrdt `Doc` speaking the y-websocket sync protocol (SyncStep1/SyncStep2, then one Update message
per local transaction) over the `websockets` library; for ours it is `sdk.websocket.WSClient`
driving `sync.client.SyncClient`, which keeps one edit in flight and sends what was typed
meanwhile as one edit when the acknowledgement comes. No client offers permessage-deflate. The
clients are Python for every server (`--clients node` runs the JavaScript ones instead:
[benchmarks-peers-js.md](benchmarks-peers-js.md)); what they cost is reported as "client CPU"
(cores busy, of the machine's 2), and "machine busy" says how close to saturation the whole
machine was.""",
    "node": """\
`node bench/peers/node/worker.mjs` (`--clients node`), each running many clients in one event
loop (two processes by default; S3's writer has a third to itself): what browsers run. For the
Yjs servers a client is a yjs `Doc` speaking the y-websocket sync protocol (SyncStep1/SyncStep2,
then one Update message per local transaction, as y-websocket's browser provider sends them);
for ours it is the page's own engine and connection (`frontend/src/sync`,
`frontend/src/lib/connection.js`, from the snapshot of ours measured), which keeps one edit in
flight and sends what was typed meanwhile as one edit when the acknowledgement comes. Both over
the `ws` package, without permessage-deflate. The random choices (when each editor types, where
it inserts) are drawn by the orchestrator with the Python clients' generator and seed, so both
kinds of client make the same edits. The Python clients' run is
[benchmarks-peers.md](benchmarks-peers.md). What the clients cost is reported as "client CPU"
(cores busy, of the machine's 2), and "machine busy" says how close to saturation the whole
machine was.""",
}


def _probe_line(probe: dict[str, Any]) -> str:
    tried = probe.get("tried") or {}
    if not tried:
        return probe.get("note", "not probed")
    return ", ".join(
        f"K={k}: " + (f"p99 {v['p99']} ms" if v.get("ok") else "FAILED") for k, v in tried.items()
    )


def write(path: Path, text: str) -> None:
    """Write the report, keeping the hand-written reading of an earlier one."""
    if path.exists():
        kept = READING.search(path.read_text())
        if kept:
            text = READING.sub(lambda _m: kept.group(0), text)
    path.write_text(text)
