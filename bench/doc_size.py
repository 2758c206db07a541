"""What a keystroke costs the server on a small and on a large document.

    python -m bench.doc_size [--keystrokes N] [--rounds R] [--xmpp managed|off]

Starts the full server (`collab serve`: SQLite FULL, managed Prosody unless --xmpp off) once,
then, in R rounds that alternate the sizes (so that the machine's drift hits both alike),
creates a fresh 1 KB and a fresh 1 MB document of English-like words, connects an editor and
an observer to it, and has the editor type N one-character edits at random places, each sent
alone and acknowledged before the next (one revision per keystroke). It reads the server
process's CPU time (user + system, from /proc) before and after, and reports CPU per
keystroke for each size, the median over rounds, and the ratio of 1 MB to 1 KB. The observer
must end with the editor's text, or the round fails. Prosody's CPU is reported beside it: it
does not depend on the document's size (each publish carries one revision).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.peers.procstat import cpu_seconds, descendants
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document

# Common English words, which the 1 MB document is made of.
_WORD_LIST = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if so "
    "no will more about can up said out what some them into only time could new than other"
)
WORDS = _WORD_LIST.split(" ")
SIZES = {"1 KB": 1_000, "1 MB": 1_000_000}


def words_text(length: int, rng: random.Random) -> str:
    pieces: list[str] = []
    total = 0
    while total < length:
        word = rng.choice(WORDS)
        pieces.append(word)
        total += len(word) + 1
    return " ".join(pieces)[:length]


async def one_round(
    server: LiveServer, label: str, length: int, keystrokes: int, round_number: int
) -> tuple[float, float, float]:
    """(server CPU µs, Prosody CPU µs, wall µs) per keystroke on a fresh document."""
    rng = random.Random(round_number)
    doc_id = f"size-{length}-{round_number}"
    await create_document(server, doc_id, words_text(length, rng))
    editor = WSClient(server.ws_url, doc_id, SyncClient(f"ed{round_number}"), name="Editor")
    observer = WSClient(server.ws_url, doc_id, SyncClient(f"ob{round_number}"), name="Observer")
    await editor.start()
    await observer.start()
    await editor.wait_synced()
    await observer.wait_synced()
    assert server.process is not None
    pid = server.process.pid
    others = descendants(pid)
    server_before = cpu_seconds(pid)
    others_before = sum(cpu_seconds(p) for p in others)
    started = time.perf_counter()
    for _ in range(keystrokes):
        editor.replace(rng.randint(0, len(editor.text)), 0, rng.choice("abcdefgh "))
        await editor.wait_synced()
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(pid) - server_before
    others_cpu = sum(cpu_seconds(p) for p in others) - others_before
    deadline = time.monotonic() + 30
    while observer.text != editor.text:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{label}: the observer never caught up with the editor")
        await asyncio.sleep(0.05)
    await editor.stop()
    await observer.stop()
    scale = 1e6 / keystrokes
    return server_cpu * scale, others_cpu * scale, wall * scale


async def main(keystrokes: int, rounds: int, xmpp: str) -> None:
    results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in SIZES}
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
            for round_number in range(rounds):
                order = list(SIZES.items())
                if round_number % 2:
                    order.reverse()
                for label, length in order:
                    measured = await one_round(server, label, length, keystrokes, round_number)
                    results[label].append(measured)
                    print(
                        f"round {round_number + 1} {label}: server {measured[0]:.0f} µs, "
                        f"other processes {measured[1]:.0f} µs, wall {measured[2]:.0f} µs "
                        "per keystroke",
                        flush=True,
                    )
        finally:
            await asyncio.to_thread(server.stop)
    print(f"\n{keystrokes} keystrokes x {rounds} rounds, XMPP {xmpp}; medians per keystroke:")
    print("| document | server CPU | Prosody CPU | wall (edit to ack) |")
    print("|---|---|---|---|")
    medians = {}
    for label, rows in results.items():
        medians[label] = tuple(statistics.median(row[i] for row in rows) for i in range(3))
        server_us, other_us, wall_us = medians[label]
        print(f"| {label} | {server_us:.0f} µs | {other_us:.0f} µs | {wall_us:.0f} µs |")
    small, large = medians["1 KB"], medians["1 MB"]
    print(
        f"| 1 MB / 1 KB | {large[0] / small[0]:.2f}x | {large[1] / max(small[1], 1e-9):.2f}x "
        f"| {large[2] / small[2]:.2f}x |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keystrokes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xmpp", choices=["managed", "off"], default="managed")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.keystrokes, arguments.rounds, arguments.xmpp))
