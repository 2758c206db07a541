"""A client process (runs in the peers' venv): ``python -m bench.peers.worker JOB.json``.

It opens the job's clients, prints ``ready``, waits for ``go <t0>`` on stdin (t0 on the
system-wide CLOCK_MONOTONIC, shared by every worker), runs, writes its results next to the
job file, prints ``done``, and closes its connections when told ``stop``. Two kinds of job:

- ``markers`` (S1, S3): participants edit on a Poisson schedule, each edit one marker
  inserted where a marker starts; every participant records when every other one's edits
  reached it. Then each waits until it holds every marker of the run.
- ``trace`` (S2): a writer replays a trace, one keystroke per message or one message per
  16 ms frame; an observer records when its text first equals the trace's end.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sdk.websocket
from bench.peers.oclient import OursPeer
from bench.peers.plan import boundary, load_trace, marker, now, position_fractions, schedule
from bench.peers.yclient import YPeer

Peer = YPeer | OursPeer
Job = dict[str, Any]


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_peer(job: Job, index: int, *, track: bool) -> Peer:
    if job["server"] == "yjs":
        return YPeer(f"{job['url']}/{job['doc']}", 1000 + index, track_arrivals=track)
    return OursPeer(job["url"], job["doc"], f"c{index}", track_arrivals=track)


async def read_go() -> float:
    line = await asyncio.to_thread(sys.stdin.readline)
    word, t0 = line.split()
    assert word == "go", line
    return float(t0)


async def sleep_until(t: float) -> None:
    delay = t - now()
    if delay > 0:
        await asyncio.sleep(delay)


def say(word: str) -> None:
    print(word, flush=True)


async def until(condition: Callable[[], bool], deadline: float, tick: float = 0.02) -> bool:
    while not condition():
        if now() >= deadline:
            return False
        await asyncio.sleep(tick)
    return True


async def connect_all(job: Job, peers: list[Peer]) -> None:
    """Connect every peer, 20 at a time. The process told to ``open`` the document connects
    one peer alone first and says ``opened``; the others start after that. (pycrdt-websocket
    0.16.5 leaves clients hanging that join a room while it is being created.)"""
    gate = asyncio.Semaphore(job.get("connect_concurrency", 20))
    timeout = job.get("connect_timeout", 60.0)

    async def connect(peer: Peer) -> None:
        async with gate:
            await peer.connect(timeout)

    if job.get("open") and peers:
        await peers[0].connect(timeout)
        say("opened")
        peers = peers[1:]
    await asyncio.gather(*(connect(peer) for peer in peers))


# -- markers: S1 and S3 -------------------------------------------------------------------


async def run_markers(job: Job, peers: list[Peer]) -> dict[str, Any]:
    participants = job["participants"]
    peers.extend(make_peer(job, p["index"], track=True) for p in participants)
    await connect_all(job, peers)
    say("ready")
    t0 = await read_go()
    cpu0 = cpu_self()
    made: list[list[list[Any]]] = [[] for _ in peers]

    async def edit(slot: int) -> None:
        index, rate = participants[slot]["index"], participants[slot]["rate"]
        peer, log = peers[slot], made[slot]
        offsets = schedule(job["seed"], index, rate, job["seconds"])
        fractions = position_fractions(job["seed"], index, len(offsets))
        for number, offset in enumerate(offsets):
            planned = t0 + offset
            await sleep_until(planned)
            name = marker(index, number)
            position = boundary(peer.text, fractions[number])
            stamp = now()
            ident = peer.insert(position, name)
            log.append([name, stamp, planned, ident])
            await peer.flush()

    await asyncio.gather(*(edit(slot) for slot in range(len(peers))))
    typed = now()
    expected = job["expected_markers"]
    deadline = t0 + job["seconds"] + job["drain_timeout"]
    drained = await until(lambda: all(p.text.count("<") >= expected for p in peers), deadline)
    if drained:
        for peer in peers:
            if isinstance(peer, OursPeer):  # our own last edits acknowledged too
                try:
                    await peer.ws.wait_synced(max(1.0, deadline - now()))
                except TimeoutError:
                    drained = False
    done = now()
    cpu = cpu_self() - cpu0
    out = []
    for slot, peer in enumerate(peers):
        if isinstance(peer, OursPeer):
            for entry in made[slot]:
                entry[3] = peer.client.seq_of.get(entry[0])
            author = peer.client.client_id
            arrivals: dict[str, Any] = peer.client.arrivals
            extra = {
                "snapshots": peer.client.snapshots,
                "errors": list(peer.ws.errors),
                "joins": peer.ws.joins,
                "edits_sent": peer.client.edits_sent,
            }
        else:
            author = str(peer.client_id)
            arrivals = {str(k): v for k, v in peer.arrivals.items()}
            extra = {"snapshots": [], "errors": [], "joins": 1, "edits_sent": peer.sent}
        text = peer.text
        out.append(
            {
                "index": participants[slot]["index"],
                "author": author,
                "made": made[slot],
                "arrivals": arrivals,
                "sha1": hashlib.sha1(text.encode()).hexdigest(),
                "length": len(text),
                "markers": text.count("<"),
                **extra,
            }
        )
    return {
        "peers": out,
        "text": peers[0].text if peers else "",
        "drained": drained,
        "typed": typed,
        "done": done,
        "cpu": cpu,
        "lags": [entry[1] - entry[2] for log in made for entry in log],
    }


# -- trace: S2 ------------------------------------------------------------------------------


async def run_trace(job: Job, peers: list[Peer]) -> dict[str, Any]:
    trace = load_trace(Path(job["trace"]), job.get("limit"))
    writer = job["role"] == "writer"
    peer = make_peer(job, 0 if writer else 1, track=False)
    peers.append(peer)
    target, reached = trace.end, [0.0]
    changed = [now()]

    def check() -> None:
        changed[0] = now()
        if not reached[0] and peer.length == len(target) and peer.text == target:
            reached[0] = changed[0]

    if not writer:
        if isinstance(peer, YPeer):
            peer.on_applied = check
        else:
            peer.client.on_applied = check
    await connect_all(job, peers)
    say("ready")
    t0 = await read_go()
    await sleep_until(t0)
    cpu0 = cpu_self()
    result: dict[str, Any] = {}
    if writer:
        await type_trace(peer, trace.keystrokes, job["frame_ms"] / 1000)
        result["typed"] = now()
        if isinstance(peer, OursPeer):
            await peer.ws.wait_synced(job["timeout"])
        result["synced"] = now()
        result["messages"] = peer.sent if isinstance(peer, YPeer) else peer.client.edits_sent
        result["equal"] = peer.text == target
    else:
        deadline = t0 + job["timeout"]

        def finished() -> bool:
            return bool(reached[0]) or now() - changed[0] > job["stall_timeout"]

        await until(finished, deadline, tick=0.05)
        result["reached"] = reached[0] or None
        result["length"] = peer.length
        result["target_length"] = len(target)
        result["messages"] = peer.received if isinstance(peer, YPeer) else peer.client.revisions
    result["cpu"] = cpu_self() - cpu0
    result["done"] = now()
    return result


async def type_trace(peer: Peer, keystrokes: list[tuple[int, int, str]], frame: float) -> None:
    if frame <= 0:  # one keystroke, one message (ours: whenever no edit is in flight)
        for position, deleted, inserted in keystrokes:
            peer.splice(position, deleted, inserted)
            await peer.flush()
            await asyncio.sleep(0)
        return
    at, total = 0, len(keystrokes)
    while at < total:
        end = now() + frame
        if isinstance(peer, YPeer):
            with peer.doc.transaction():
                at = _type_frame(peer, keystrokes, at, end)
            await peer.flush()
        else:
            at = _type_frame(peer, keystrokes, at, end)
            peer.send_buffered()
        await asyncio.sleep(0)


def _type_frame(peer: Peer, keystrokes: list[tuple[int, int, str]], at: int, end: float) -> int:
    total = len(keystrokes)
    while at < total:
        position, deleted, inserted = keystrokes[at]
        if isinstance(peer, YPeer):
            peer.splice(position, deleted, inserted)
        else:
            peer.splice(position, deleted, inserted, send=False)
        at += 1
        if now() >= end:
            break
    return at


async def main(path: Path) -> None:
    job = json.loads(path.read_text())
    runner = run_markers if job["kind"] == "markers" else run_trace
    peers: list[Peer] = []
    result = await runner(job, peers)
    result["client_code"] = str(Path(sdk.websocket.__file__).parents[1])
    Path(job["result"]).write_text(json.dumps(result))
    say("done")
    # Connected until every process is done: y-websocket has no acknowledgements, so a
    # writer leaving early could take updates the server has not read yet with it.
    await asyncio.to_thread(sys.stdin.readline)
    await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(Path(sys.argv[1])))
