"""What fan-out costs the server per delivered message: frames written straight to each
member's transport (``app/serving.py``'s FramingProtocol) against one ASGI ``websocket.send``
per member and message (uvicorn's plain websockets-sansio protocol, what ran before).

    python -m bench.fanout [--members N] [--broadcasts B] [--batch R] [--rounds 2]

The app runs under uvicorn in this process (XMPP off, memory store); N members join one
document from a child process that reads and discards what arrives (raw sockets, no parsing,
so the readers cost the machine little). Then B broadcasts of R revision-sized messages
each go out through ``Room.broadcast_many``, as a commit batch does, one after the other as
soon as every member's transport has drained. Printed: the server process's CPU time per
delivered message, for each protocol, alternating, ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn

from app.config import Settings
from app.main import create_app
from app.serving import uvicorn_options

READER = r"""
import asyncio, base64, json, os, sys
port, doc, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

def masked(payload: bytes) -> bytes:  # a client frame, masked with the key 0 (RFC 6455 5.3)
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload

async def one(i: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws/{doc} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await reader.readuntil(b"\r\n\r\n")
    writer.write(masked(json.dumps({"type": "join", "client": f"r{i}", "name": "R"}).encode()))
    while await reader.read(1 << 16):
        pass

async def main() -> None:
    await asyncio.gather(*(one(i) for i in range(count)))

asyncio.run(main())
"""

MESSAGE = (
    '{"type":"revision","rev":%d,"base":%d,"author":"someone","client":"c-0123456789",'
    '"seq":%d,"patch":"@@ -120,6 +120,14 @@\\n dolor \\n+<12:345>\\n sit am\\n",'
    '"checksum":"2:0123456789abcdef0123456789abcdef"}'
)


async def measure(ws: Any, members: int, broadcasts: int, batch: int) -> float:
    """Microseconds of this process's CPU per delivered message."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,
            data_dir=Path(folder),
            database_url="memory://",
            xmpp_mode="off",
            auth="off",
            send_queue_limit=1_000_000,
        )
        app = create_app(settings)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        options = {**uvicorn_options(), "ws": ws}
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **options))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        rooms = app.state.rooms
        await rooms.store.create("fan", "Fan", "lorem ipsum " * 100)
        readers = subprocess.Popen([sys.executable, "-c", READER, str(port), "fan", str(members)])
        try:
            async with rooms.holding("fan") as room:
                while len(room.members) < members:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                transports = [p.transport for p in server.server_state.connections]
                started = time.process_time()
                rev = 0
                for _ in range(broadcasts):
                    texts = []
                    for _ in range(batch):
                        rev += 1
                        texts.append(MESSAGE % (rev, rev - 1, rev))
                    room.broadcast_many(tuple(texts))
                    await asyncio.sleep(0)
                    while any(m.backlogged for m in room.members.values()) or any(
                        t.get_write_buffer_size() for t in transports
                    ):
                        await asyncio.sleep(0.001)
                spent = time.process_time() - started
        finally:
            readers.terminate()
            readers.wait()
            server.should_exit = True
            await task
            sock.close()
    return spent / (broadcasts * batch * members) * 1e6


async def main(members: int, broadcasts: int, batch: int, rounds: int) -> None:
    framing = uvicorn_options()["ws"]
    results: dict[str, list[float]] = {"asgi": [], "framing": []}
    for _ in range(rounds):
        for name, ws in (("asgi", "websockets-sansio"), ("framing", framing)):
            results[name].append(await measure(ws, members, broadcasts, batch))
            print(f"{name}: {results[name][-1]:.2f} µs per delivered message", flush=True)
    best = {name: min(values) for name, values in results.items()}
    print(
        f"{members} members, {broadcasts} broadcasts of {batch}: ASGI sends {best['asgi']:.2f} "
        f"µs, frames to the transport {best['framing']:.2f} µs per delivered message "
        f"({best['framing'] / best['asgi']:.2f}x; best of {rounds})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--broadcasts", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    os.environ.pop("COLLAB_DATABASE_URL", None)
    asyncio.run(main(arguments.members, arguments.broadcasts, arguments.batch, arguments.rounds))
