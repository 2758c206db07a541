"""Does the server give memory back after connections close?

    python -m bench.connections_memory [--connections N] [--rounds R] [--documents D]
                                       [--slack-mb MB]

Starts the full server (`collab serve`, XMPP off) and, R times, opens N WebSocket connections
spread over D documents, joins each (so each has a member, a send queue and a place in a
room), holds them all open for a moment, closes them all, and waits until the documents are
unloaded. It reads the server's resident memory (VmRSS, from /proc) after a small warm-up
round, with the connections open, and after each round, and reports how far the RSS after
the first and the last round is from that start. It does so twice: as the server runs by
default (``COLLAB_RELEASE_MEMORY=1``: the C allocator, trimmed after documents unload;
``app/memory.py``) and with the setting off. It fails if the second half of the rounds still
grew the default server's RSS by more than ``--slack-mb``: a leak grows it every round, an
allocator's high water mark does not. Not a test in CI: RSS depends on the allocator and the
machine, not only on our code (``tests/app/test_memory.py`` checks the causes instead).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from tests.app.live import LiveServer, create_document

# After closing: the documents unload (0.5 s), the server trims a second later, margin.
SETTLE_SECONDS = 3.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def open_joined(server: LiveServer, doc_id: str, client: str) -> ClientConnection:
    ws = await connect(f"{server.ws_url}/ws/{doc_id}", proxy=None, ping_interval=None)
    await ws.send(json.dumps({"type": "join", "client": client, "name": "Idle"}))
    while json.loads(await ws.recv())["type"] not in ("snapshot", "synced"):
        pass
    return ws


async def one_round(server: LiveServer, round_number: int, count: int, documents: int) -> float:
    """Open, hold and close ``count`` connections; returns the RSS while they were open."""
    assert server.process is not None
    sockets: list[ClientConnection] = []
    for start in range(0, count, 50):  # in steps, as a crowd arriving would
        sockets += await asyncio.gather(
            *(
                open_joined(server, f"mem-{i % documents}", f"r{round_number}-c{i}")
                for i in range(start, min(count, start + 50))
            )
        )
    await asyncio.sleep(1.0)
    held = rss_mb(server.process.pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return held


async def measure(
    count: int, rounds: int, documents: int, *, release_memory: bool
) -> tuple[float, list[float]]:
    """The RSS after a warm-up, and after each round; ``release_memory`` as the setting."""
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(
            Path(tmp),
            idle_unload_seconds=0.5,
            send_queue_limit=1000,
            edits_per_second=50,
            release_memory=release_memory,
        )
        server.start()
        try:
            assert server.process is not None
            pid = server.process.pid
            for d in range(documents):
                await create_document(server, f"mem-{d}", "hello " * 200)
            # A few connections first: what the first ones set up once (imports, caches,
            # the statement cache) is the server's, not the peak's.
            await one_round(server, -1, 2 * documents, documents)
            await asyncio.sleep(SETTLE_SECONDS)
            start = rss_mb(pid)
            label = "released" if release_memory else "kept"
            print(f"[{label}] start: {start:.1f} MB")
            after: list[float] = []
            for number in range(rounds):
                held = await one_round(server, number, count, documents)
                await asyncio.sleep(SETTLE_SECONDS)  # documents unload, the heap is trimmed
                after.append(rss_mb(pid))
                print(
                    f"[{label}] round {number + 1}: {held:.1f} MB with {count} open, "
                    f"{after[-1]:.1f} MB after they closed"
                )
        finally:
            server.stop()
    return start, after


async def run(count: int, rounds: int, documents: int, slack_mb: float) -> int:
    worst = 0.0
    rows = []
    for release_memory in (True, False):
        start, after = await measure(count, rounds, documents, release_memory=release_memory)
        half = after[len(after) // 2 - 1] if len(after) > 1 else after[0]
        if release_memory:
            worst = after[-1] - half
        rows.append(
            f"| {'1 (default)' if release_memory else '0'} | {start:.1f} MB "
            f"| {after[0] - start:+.1f} MB | {after[-1] - start:+.1f} MB "
            f"| {after[-1] - half:+.1f} MB over the second half |"
        )
    print(f"| COLLAB_RELEASE_MEMORY | start | after round 1 | after round {rounds} | growth |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0 if worst <= slack_mb else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--slack-mb", type=float, default=4.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.connections, args.rounds, args.documents, args.slack_mb)))


if __name__ == "__main__":
    main()
