"""How many revisions per second one document sustains on one instance: `collab serve` with
its defaults (SQLite in WAL mode with synchronous=FULL, a managed Prosody, every revision
published), every revision committed before it is acknowledged.

    python -m bench.revision_rate [--writers W] [--in-flight D] [--seconds S] [--xmpp off]

W writers (plain WebSocket clients in this process) each keep D edits in flight on one
document: an edit inserts one character where the text starts, on the newest revision the
writer has seen, and the next is sent when one is acknowledged. Every writer parses every
revision it receives (16 writers at 1,000 revisions/s: 16,000 messages a second in this one
process), so the client is a limit too: a writer whose reading falls more than the server's
history (500 revisions) behind has its edit refused as stale (counted, and the writer goes
on). The server sequences, commits and fans out every edit to every writer. Printed:
revisions committed per second over the measured window (after a warm-up), the
acknowledgement latency (p50/p99), the server's CPU per revision, how far back the edits were
based (the revisions each was rebased over), and a check that the document holds every
acknowledged edit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.peers.procstat import cpu_seconds
from bench.profile_server import summarize
from tests.app.live import LiveServer, create_document, server_text

WARM_UP_SECONDS = 2.0


class Writer:
    def __init__(self, index: int, in_flight: int) -> None:
        self.client = f"w{index}"
        self.in_flight = in_flight
        self.rev = 0
        self.seq = 0
        self.sent_at: dict[int, float] = {}
        self.acked: list[tuple[float, float]] = []  # (time acknowledged, latency)
        self.behind: list[int] = []  # how many revisions each edit was rebased over
        self.refused = 0  # edits refused as stale: based before the server's kept history
        self.slots = asyncio.Semaphore(in_flight)

    async def run(self, ws: ClientConnection, until: float) -> None:
        join = {"type": "join", "client": self.client, "name": self.client}
        await ws.send(orjson.dumps(join).decode())
        reader = asyncio.create_task(self.read(ws))
        loop = asyncio.get_running_loop()
        try:
            while loop.time() < until:
                try:
                    async with asyncio.timeout(30):
                        await self.slots.acquire()
                except TimeoutError:
                    state = repr(reader.exception()) if reader.done() else "running"
                    raise RuntimeError(
                        f"{self.client}: no acknowledgement in 30 s (waiting for seq "
                        f"{sorted(self.sent_at)}, last revision seen {self.rev}, reader "
                        f"{state}, socket "
                        f"close code {ws.close_code} {ws.close_reason!r})"
                    ) from None
                self.seq += 1
                self.sent_at[self.seq] = time.perf_counter()
                edit = {
                    "type": "edit",
                    "base": self.rev,
                    "client": self.client,
                    "seq": self.seq,
                    "patch": "@@ -0,0 +1 @@\n+x\n",
                }
                await ws.send(orjson.dumps(edit).decode())
            while self.sent_at:  # the last ones' acknowledgements
                if reader.done():
                    reader.result()  # its error
                    raise RuntimeError(f"{self.client}: the server closed the socket")
                await asyncio.sleep(0.01)
        finally:
            reader.cancel()

    async def read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            kind = message.get("type")
            if kind in ("revision", "snapshot", "synced"):
                self.rev = max(self.rev, message["rev"])
            if kind == "revision" and message.get("client") == self.client:
                sent = self.sent_at.pop(message["seq"], None)
                if sent is not None:
                    now = time.perf_counter()
                    self.acked.append((now, now - sent))
                    self.behind.append(message["rev"] - message["base"] - 1)
                    self.slots.release()
            elif kind == "error" and message.get("code") == "stale-revision":
                # This writer's reading fell more than the server's history behind: the edit
                # is refused, not applied. Counted, and the writer goes on from where its
                # reading is by now (a real client would resync).
                self.refused += 1
                if self.sent_at.pop(message["seq"], None) is not None:
                    self.slots.release()
            elif kind == "error":
                print(f"{self.client}: {message}", flush=True)
                raise RuntimeError(f"{self.client}: {message}")


def spy_on(pid: int, seconds: float, raw: Path) -> subprocess.Popen[bytes]:
    """py-spy recording the server for ``seconds`` into ``raw`` (its raw, collapsed format)."""
    return subprocess.Popen(
        [
            *(str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking"),
            *("--pid", str(pid), "--duration", str(int(seconds))),
            *("--format", "raw", "--output", str(raw)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main(
    writers: int, in_flight: int, seconds: float, xmpp: str, profile: Path | None = None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = LiveServer(
            Path(folder),
            xmpp_mode=xmpp,
            xmpp_managed_port=0,
            edits_per_second=100_000,
            edit_burst=1_000_000,
            send_queue_limit=1_000_000,
        )
        await asyncio.to_thread(server.start)
        try:
            assert server.process is not None
            await create_document(server, "rate", "")
            loop = asyncio.get_running_loop()
            until = loop.time() + WARM_UP_SECONDS + seconds
            team = [Writer(i, in_flight) for i in range(writers)]
            sockets = [
                await connect(f"{server.ws_url}/ws/rate", compression=None, max_size=None)
                for _ in team
            ]
            started = time.perf_counter()
            cpu_at: list[float] = []

            async def sample_cpu() -> None:
                assert server.process is not None
                await asyncio.sleep(WARM_UP_SECONDS)
                cpu_at.append(cpu_seconds(server.process.pid))
                spy = None if profile is None else spy_on(server.process.pid, seconds, profile)
                await asyncio.sleep(seconds)
                cpu_at.append(cpu_seconds(server.process.pid))
                if spy is not None:
                    await asyncio.to_thread(spy.wait)

            await asyncio.gather(
                sample_cpu(), *(w.run(ws, until) for w, ws in zip(team, sockets, strict=True))
            )
            for ws in sockets:
                await ws.close()
            rev, text = await server_text(server, "rate")
        finally:
            await asyncio.to_thread(server.stop)
    window = (started + WARM_UP_SECONDS, started + WARM_UP_SECONDS + seconds)
    inside = [lat for w in team for at, lat in w.acked if window[0] <= at < window[1]]
    total = sum(len(w.acked) for w in team)
    latencies = sorted(inside)
    rate = len(inside) / seconds
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    cpu_per = (cpu_at[1] - cpu_at[0]) / max(len(inside), 1) * 1e6
    print(
        f"{writers} writers x {in_flight} in flight, XMPP {xmpp}, SQLite FULL: "
        f"{rate:,.0f} revisions/s over {seconds:g} s; acknowledgement p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms; server CPU {cpu_per:.0f} µs per revision "
        f"({(cpu_at[1] - cpu_at[0]) / seconds:.2f} cores)"
    )
    if profile is not None:
        print(f"py-spy, the server over the measured window ({profile}); busy samples:")
        for name, share in summarize(profile):
            print(f"  {share:5.1f} %  {name}")
    behind = sorted(b for w in team for b in w.behind)
    refused = sum(w.refused for w in team)
    print(
        f"rebased over: p50 {statistics.median(behind):g}, max {behind[-1]} revisions; "
        f"{refused} edits refused as stale (the writer's reading fell behind the history)"
    )
    held = len(text) == total == rev
    print(f"document: revision {rev}, {len(text)} characters, {total} acknowledged: ok={held}")
    if not held:
        raise SystemExit("the document does not hold exactly the acknowledged edits")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--xmpp", choices=["managed", "off"], default="managed")
    parser.add_argument(
        "--profile", type=Path, help="record the server with py-spy into this file, and summarize"
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.writers,
            arguments.in_flight,
            arguments.seconds,
            arguments.xmpp,
            arguments.profile,
        )
    )
