"""Several instances against one: ``make bench-cluster`` (``python -m bench.cluster``).

Each configuration is a fresh local deployment started as ``collab cluster up`` starts it
(``app/cli/cluster.py``: a new PostgreSQL database, one Prosody, the instances in external
mode, HAProxy before them), with one instance and then with three, so that the machine's drift
hits both alike. Two scenarios run on each:

- **one document, editors spread**: K editors (64 by default) on one document, each typing a
  unique marker where a marker starts, at 5 edits/s with Poisson arrivals. With three
  instances the editors connect to the instances directly, in turn, so that the document has
  editors on every instance (the case routing by document avoids, and the one that shows what
  several sequencers on one document cost).
- **many documents, through the proxy**: 300 editors over 100 documents (3 each) at 1 edit/s,
  connected through HAProxy, which routes each document to one instance.

For every edit, the time from typing it to its acknowledgement (which the server sends once
the edit is durable in PostgreSQL), p50/p95/p99/max; revisions per second (the documents'
head revisions over the typing window); the refusals clients received by code (``busy``: the
instance lost a race for the head and the client sent again); and whether every client ended
with the same text holding every marker once. For the spread document, also how many edits
were forwarded to the instance that sequences it and their mean time until its answer and
until their revision was folded in where they were typed (``collab_forward_seconds`` in each
instance's ``/metrics``). Results: ``docs/benchmarks-cluster.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import platform
import random
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.buses.xmpp.prosody import free_port
from app.cli.cluster import DEFAULT_DATABASE, LocalCluster
from bench.peers.plan import MARKER, boundary
from sdk.websocket import WSClient
from sync.client import SyncClient
from sync.protocol import ClientMessage, Edit, EditError, Revision, ServerMessage

RESULTS = Path("docs/benchmarks-cluster.md")


class TimedClient(SyncClient):
    """Records, for each edit sent, when its oldest keystroke was typed, and the time to its
    acknowledgement; counts refusals by code."""

    def __init__(self, client_id: str) -> None:
        super().__init__(client_id)
        self.typed: list[float] = []  # keystrokes not yet in a sent edit
        self.sent: dict[int, float] = {}  # seq -> when its oldest keystroke was typed
        self.latencies: list[float] = []
        self.refusals: collections.Counter[str] = collections.Counter()
        self._last_seq = 0

    def type(self) -> None:
        self.typed.append(time.monotonic())

    def flush(self) -> list[ClientMessage]:
        messages = super().flush()
        for message in messages:
            if isinstance(message, Edit) and message.op_id.seq > self._last_seq:
                self._last_seq = message.op_id.seq
                if self.typed:
                    self.sent[message.op_id.seq] = self.typed[0]
                    self.typed.clear()
        return messages

    def receive(self, message: ServerMessage) -> list[ClientMessage]:
        if isinstance(message, EditError):
            self.refusals[message.code] += 1
        elif isinstance(message, Revision) and message.op_id.client == self.client_id:
            typed = self.sent.pop(message.op_id.seq, None)
            if typed is not None:
                self.latencies.append(time.monotonic() - typed)
        return super().receive(message)


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    revisions: int = 0
    seconds: float = 0.0
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    converged: bool = True
    markers_ok: bool = True

    def row(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]

        def quantile(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return {
            "edits acknowledged": len(self.latencies),
            "ack p50 (ms)": round(statistics.median(ordered) * 1000, 1),
            "ack p95 (ms)": round(quantile(0.95), 1),
            "ack p99 (ms)": round(quantile(0.99), 1),
            "ack max (ms)": round(ordered[-1] * 1000, 1),
            "revisions/s": round(self.revisions / max(self.seconds, 1e-9), 1),
            "refusals": ", ".join(f"{c} {n}" for c, n in sorted(self.refusals.items())) or "none",
            "converged, every marker once": "yes" if self.converged and self.markers_ok else "NO",
        }


async def run_editors(
    placements: list[tuple[str, str]], rate: float, seconds: float, seed: int
) -> tuple[Outcome, dict[str, list[WSClient]]]:
    """``placements``: (WebSocket base URL, document) per editor."""
    clients: list[tuple[WSClient, TimedClient, str]] = []
    by_doc: dict[str, list[WSClient]] = collections.defaultdict(list)
    for index, (url, doc_id) in enumerate(placements):
        engine = TimedClient(f"b{index}")
        ws = WSClient(url, doc_id, engine, name=f"B{index}", open_timeout=60)
        clients.append((ws, engine, doc_id))
        by_doc[doc_id].append(ws)
    gate = asyncio.Semaphore(20)

    async def connect(ws: WSClient) -> None:
        async with gate:
            await ws.start()
            await ws.wait_synced(60)

    await asyncio.gather(*(connect(ws) for ws, _, _ in clients))
    started = time.monotonic()

    async def editor(index: int, ws: WSClient, engine: TimedClient) -> None:
        own = random.Random(seed * 1000 + index)
        n = 0
        while time.monotonic() - started < seconds:
            await asyncio.sleep(own.expovariate(rate))
            engine.type()
            ws.replace(boundary(ws.text, own.random()), 0, f"<{index}:{n}>")
            n += 1

    await asyncio.gather(*(editor(i, ws, e) for i, (ws, e, _) in enumerate(clients)))
    typing = time.monotonic() - started
    outcome = Outcome(seconds=typing)
    for ws, _, _ in clients:
        await ws.wait_synced(120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(len({ws.text for ws in group}) == 1 for group in by_doc.values()):
            break
        await asyncio.sleep(0.1)
    for group in by_doc.values():
        texts = {ws.text for ws in group}
        outcome.converged &= len(texts) == 1
        text = next(iter(texts))
        markers = collections.Counter(m.group(0) for m in MARKER.finditer(text))
        outcome.markers_ok &= all(count == 1 for count in markers.values())
    for _, engine, _ in clients:
        outcome.latencies += engine.latencies
        outcome.refusals += engine.refusals
    return outcome, by_doc


async def heads(proxy: str, docs: list[str]) -> int:
    async with httpx.AsyncClient(base_url=proxy, trust_env=False, timeout=30) as http:
        total = 0
        for doc_id in docs:
            response = await http.get(f"/api/documents/{doc_id}")
            response.raise_for_status()
            total += int(response.json()["rev"])
        return total


async def forward_totals(instances: list[str]) -> dict[str, float]:
    """Summed over the instances' /metrics: forwarded edits, and the seconds they took until
    answered and until folded (``collab_forward_seconds``)."""
    totals: dict[str, float] = collections.defaultdict(float)
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        for address in instances:
            text = (await http.get(f"http://{address}/metrics")).text
            for line in text.splitlines():
                name, _, value = line.rpartition(" ")
                for until in ("answered", "folded"):
                    for kind in ("sum", "count"):
                        if name == f'collab_forward_seconds_{kind}{{until="{until}"}}':
                            totals[f"{until} {kind}"] += float(value)
    return totals


def forward_rows(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    count = after["answered count"] - before["answered count"]

    def mean(until: str) -> float | str:
        folded = after[f"{until} count"] - before[f"{until} count"]
        seconds = after[f"{until} sum"] - before[f"{until} sum"]
        return round(1000 * seconds / folded, 1) if folded else ""

    return {
        "edits forwarded": int(count),
        "forward, mean until answered (ms)": mean("answered"),
        "forward, mean until folded (ms)": mean("folded"),
    }


async def one_configuration(
    instances: int, arguments: argparse.Namespace, folder: Path
) -> dict[str, dict[str, Any]]:
    database = f"{arguments.database_base}_{secrets.token_hex(4)}"
    cluster = LocalCluster(
        folder / f"x{instances}-{secrets.token_hex(2)}",
        instances,
        database,
        bind=f"127.0.0.1:{free_port()}",
    )
    await cluster.up()
    results: dict[str, dict[str, Any]] = {}
    try:
        urls = ["ws://" + s.address for s in cluster.started if s.name.startswith("instance")]
        proxy_ws = cluster.proxy_url.replace("http://", "ws://")
        async with httpx.AsyncClient(
            base_url=cluster.proxy_url, trust_env=False, timeout=30
        ) as http:
            docs = ["spread"] + [f"doc-{n}" for n in range(arguments.docs)]
            for doc_id in docs:
                (
                    await http.post("/api/documents", json={"id": doc_id, "title": doc_id})
                ).raise_for_status()
        # One document, editors spread over every instance.
        placements = [(urls[i % len(urls)], "spread") for i in range(arguments.editors)]
        before = await heads(cluster.proxy_url, ["spread"])
        instances = [u.removeprefix("ws://") for u in urls]
        forwards = await forward_totals(instances)
        outcome, _ = await run_editors(placements, 5.0, arguments.seconds, seed=1)
        outcome.revisions = await heads(cluster.proxy_url, ["spread"]) - before
        results["one document, editors spread"] = outcome.row() | forward_rows(
            forwards, await forward_totals(instances)
        )
        # Many documents, through the proxy.
        many = [f"doc-{n}" for n in range(arguments.docs)]
        placements = [(proxy_ws, many[i % len(many)]) for i in range(arguments.many_editors)]
        before = await heads(cluster.proxy_url, many)
        outcome, _ = await run_editors(placements, 1.0, arguments.seconds, seed=2)
        outcome.revisions = await heads(cluster.proxy_url, many) - before
        results["many documents, through the proxy"] = outcome.row()
    finally:
        await cluster.down()
    return results


def render(table: dict[str, dict[str, dict[str, Any]]], arguments: argparse.Namespace) -> str:
    lines = [
        "# Benchmarks: several instances against one",
        "",
        'Written by `bench/cluster.py` (`make bench-cluster`); the section "Reading" is by hand.',
        "",
        f"**Run:** {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {arguments.editors} editors on one document, "
        f"{arguments.many_editors} editors over {arguments.docs} documents, "
        f"{arguments.seconds:g} s of typing per scenario, PostgreSQL, one Prosody, HAProxy.",
        "",
    ]
    for scenario in next(iter(table.values())):
        lines += [f"## {scenario}", ""]
        configs = list(table)
        metrics = list(table[configs[0]][scenario])
        lines.append("| | " + " | ".join(configs) + " | three / one |")
        lines.append("|---" * (len(configs) + 2) + "|")
        for metric in metrics:
            values = [table[c][scenario][metric] for c in configs]
            ratio = ""
            if all(isinstance(v, (int, float)) for v in values) and values[0]:
                ratio = f"{values[-1] / values[0]:.2f}x"
            lines.append(f"| {metric} | " + " | ".join(str(v) for v in values) + f" | {ratio} |")
        lines.append("")
    return "\n".join(lines)


async def main(arguments: argparse.Namespace) -> None:
    # The instances inherit COLLAB_* settings: this measures editing, not signing in.
    os.environ["COLLAB_AUTH"] = "off"
    table: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for instances, label in ((1, "one instance"), (3, "three instances")):
            print(f"-- {label}", flush=True)
            table[label] = await one_configuration(instances, arguments, Path(folder))
            for scenario, row in table[label].items():
                print(f"{label} / {scenario}: {row}", flush=True)
    text = render(table, arguments)
    print(text)
    if arguments.output:
        old = arguments.output.read_text() if arguments.output.exists() else ""
        reading = ""
        if "<!-- reading -->" in old:
            reading = old[old.index("<!-- reading -->") :]
        arguments.output.write_text(text + "\n## Reading\n\n" + (reading or "<!-- reading -->\n"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--editors", type=int, default=64)
    parser.add_argument("--many-editors", type=int, default=300)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database-base", default=DEFAULT_DATABASE + "_bench")
    parser.add_argument("--output", type=Path, default=RESULTS)
    asyncio.run(main(parser.parse_args()))
