"""Where the server's time goes: py-spy on `collab serve` while editors type.

    python -m bench.profile_server [--editors K] [--rate R] [--observers N] [--seconds S]
                                   [--xmpp managed|off] [--sample-rate HZ]

Starts the server as `collab serve` (SQLite FULL, managed Prosody unless --xmpp off), lets K
editors insert markers at R edits/s each (default 5, Poisson arrivals) through
`sdk.websocket.WSClient` while N observers (bare WebSocket connections that only read) watch,
records the server with py-spy for S seconds, and prints the share of samples by where they
were spent (grouped by package), most first, and the server's CPU per delivered revision. The
raw collapsed stacks go to --raw. ``--editors 1 --rate 20 --observers 500`` is the fan-out
scenario of `make bench-peers` (S3).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from app.stores.sql import sqlite_writer
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, open_socket

GROUPS = [
    ("sqlite writer / sqlite3", ("sqlite_writer", "sqlite3")),
    ("SQLAlchemy / aiosqlite / asyncpg", ("sqlalchemy", "aiosqlite", "asyncpg")),
    ("XMPP bridge / slixmpp", ("app/buses", "slixmpp", "sdk/xmpp")),
    ("WebSocket (websockets, uvicorn protocol)", ("websockets", "uvicorn")),
    ("JSON (orjson, json)", ("orjson", "json/")),
    ("engine (sync/)", ("(sync/",)),
    ("rooms, commits, members (app/core)", ("app/core",)),
    ("HTTP/WS adapter (app/http, starlette, fastapi)", ("app/http", "starlette", "fastapi")),
    ("event loop (asyncio, uvloop)", ("asyncio", "uvloop")),
]


def py_spy() -> str:
    """The py-spy installed beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else "py-spy"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def observe(
    server: LiveServer, doc_id: str, index: int, counts: list[int], joined: asyncio.Semaphore
) -> None:
    """A member that only reads: counts the revisions it is sent until it is closed, and
    releases ``joined`` once the server has welcomed it."""
    socket = await open_socket(server, doc_id, compression=None, max_size=None)
    join = {"type": "join", "client": f"o{index}", "name": f"O{index}", "since": 0, "full": True}
    await socket.send(json.dumps(join))
    welcomed = False
    try:
        async for raw in socket:
            if not welcomed:
                welcomed = True
                joined.release()
            counts[index] += str(raw).count('"type":"revision"')
    except Exception:  # closed at the end
        return


async def type_markers(
    server: LiveServer, doc_id: str, editors: int, rate: float, seconds: float
) -> int:
    clients = [
        WSClient(server.ws_url, doc_id, SyncClient(f"e{i}"), name=f"E{i}") for i in range(editors)
    ]
    for client in clients:
        await client.start()
    for client in clients:
        await client.wait_synced()
    rng = random.Random(1)
    sent = 0

    async def editor(client: WSClient, index: int) -> None:
        nonlocal sent
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        count = 0
        while loop.time() < end:
            await asyncio.sleep(rng.expovariate(rate))
            text = client.text
            client.replace(rng.randint(0, len(text)), 0, f"<{index}:{count}>")
            count += 1
            sent += 1

    await asyncio.gather(*(editor(c, i) for i, c in enumerate(clients)))
    for client in clients:
        await client.wait_synced()
        await client.stop()
    return sent


def group_of(frame_line: str) -> str:
    for name, needles in GROUPS:
        if any(needle in frame_line for needle in needles):
            return name
    return "other"


# Innermost frames that are waiting, not working: uvloop's loop waits inside its C
# `run` (py-spy cannot tell that from work), and the writer thread waits for its next append.
IDLE = ("Runner.run (asyncio/runners.py", "_worker (concurrent/futures/thread.py")


def _commit_line() -> int:
    """The line of the writer thread's COMMIT: the fsync that synchronous=FULL asks for, off
    the event loop (found in the source, so that edits above it do not move it)."""
    source = Path(sqlite_writer.__file__).read_text().splitlines()
    return next(n for n, line in enumerate(source, 1) if 'execute("COMMIT")' in line)


FSYNC = f"SqliteWriter._append (app/stores/sql/sqlite_writer.py:{_commit_line()})"


def summarize(raw: Path) -> list[tuple[str, float]]:
    """Share of the busy samples by the innermost frame that belongs to a known group."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        samples = int(number)
        frames = stack.split(";")
        if frames[-1].startswith(IDLE):
            continue
        total += samples
        if frames[-1] == FSYNC:
            counts["fsync of the commit (writer thread, no GIL)"] += samples
            continue
        chosen = "other"
        for frame in reversed(frames):
            group = group_of(frame)
            if group != "other":
                chosen = group
                break
        counts[chosen] += samples
    return [(name, 100.0 * n / max(total, 1)) for name, n in counts.most_common()]


async def main(
    editors: int,
    rate: float,
    observers: int,
    seconds: float,
    xmpp: str,
    raw: Path,
    samples_per_second: int,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = LiveServer(
            Path(folder),
            xmpp_mode=xmpp,
            xmpp_managed_port=0,
            edits_per_second=100_000,
            edit_burst=1_000_000,
        )
        await asyncio.to_thread(server.start)
        try:
            await create_document(server, "profile", "")
            assert server.process is not None
            counts = [0] * observers
            joined = asyncio.Semaphore(0)
            watchers = [
                asyncio.create_task(observe(server, "profile", i, counts, joined))
                for i in range(observers)
            ]
            for _ in range(observers):
                await joined.acquire()
            # The joins' presence (each newcomer is told about everyone, and everyone about
            # the newcomer) settles before the window opens: it is not the steady state.
            await asyncio.sleep(1.0 + observers / 200)
            cpu_before = cpu_seconds(server.process.pid)
            spy = subprocess.Popen(
                [
                    py_spy(),
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--duration",
                    str(int(seconds)),
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--rate",
                    str(samples_per_second),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            sent = await type_markers(server, "profile", editors, rate, seconds)
            cpu = cpu_seconds(server.process.pid) - cpu_before
            await asyncio.to_thread(spy.wait)
            for watcher in watchers:
                watcher.cancel()
        finally:
            await asyncio.to_thread(server.stop)
    delivered = sum(counts) + sent * max(editors - 1, 0)
    print(
        f"{editors} editors at {rate:g} edits/s, {observers} observers, {sent} edits in"
        f" {seconds:g} s, XMPP {xmpp}: server CPU {cpu:.2f} s,"
        f" {1e6 * cpu / max(delivered, 1):.1f} µs per delivered revision ({delivered:,});"
        " busy samples:"
    )
    for name, share in summarize(raw):
        print(f"  {share:5.1f} %  {name}")
    print(f"collapsed stacks: {raw}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--editors", type=int, default=16)
    parser.add_argument("--rate", type=float, default=5.0, help="edits/s per editor")
    parser.add_argument("--observers", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--xmpp", choices=["managed", "off"], default="managed")
    parser.add_argument(
        "--raw",
        type=Path,
        default=Path(tempfile.gettempdir()) / "collab-profile.txt",
        help="where py-spy's collapsed stacks go (default: outside the checkout)",
    )
    parser.add_argument("--sample-rate", type=int, default=100, help="py-spy's samples per second")
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.editors,
            arguments.rate,
            arguments.observers,
            arguments.seconds,
            arguments.xmpp,
            arguments.raw,
            arguments.sample_rate,
        )
    )
