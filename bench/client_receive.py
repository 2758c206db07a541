"""What a client costs per revision it receives: ``sdk.websocket.WSClient`` end to end.

    python -m bench.client_receive [--clients K] [--revisions N] [--size CHARS]

A scripted server in another process (the ``websockets`` library's own, for this narrow
purpose: it only replays) answers K clients' joins with a document of ``--size`` characters,
then sends each of them the same N revisions (one-marker inserts at random places, made by
the engine as a server makes them) as fast as they take them. The number is this process's
CPU per revision per client: the WebSocket read, JSON, the engine's fold with its checksum
check, and the client's bookkeeping. It is what a bot or a service watching many documents
pays per revision, and what the benchmark's client processes pay in ``make bench-peers``
(where 500 observers in two processes make it the fan-out scenario's latency).

To compare with another version of the client, run it with that version first on
``PYTHONPATH`` (the server side only needs ``sync/``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import time
from multiprocessing.synchronize import Event

from sdk.websocket import WSClient
from sync.client import SyncClient
from sync.protocol import Edit, Revision
from sync.server import Sequencer
from sync.text import checksum


def revisions(size: int, count: int) -> tuple[str, list[str]]:
    """A document of ``size`` characters and ``count`` revisions of it, as wire messages."""
    text = "x" * size
    sequencer = Sequencer(text)
    author = SyncClient("author", text=text)
    author.connect()
    author.receive(sequencer.snapshot("author"))
    rng = random.Random(1)
    messages = []
    for number in range(count):
        author.replace(rng.randint(0, len(author.text)), 0, f"<a:{number}>")
        (edit,) = author.flush()
        assert isinstance(edit, Edit)
        revision: Revision = sequencer.submit(edit, "Author").revision
        messages.append(json.dumps(revision.to_wire()))
        author.receive(revision)
    return text, messages


def replay(port: int, size: int, count: int, ready: Event) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    text, messages = revisions(size, count)
    snapshot = {"type": "snapshot", "rev": 0, "text": text, "checksum": checksum(text)}

    async def handle(connection: ServerConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "join":
                joined = {"type": "joined", "session": message["client"], "people": []}
                await connection.send(json.dumps(joined))
                await connection.send(json.dumps({**snapshot, "last_seq": 0}))
            elif kind == "ping":
                await connection.send(json.dumps({"type": "pong", "at": message["at"]}))
            elif kind == "go":
                for start in range(0, count, 16):
                    for data in messages[start : start + 16]:
                        await connection.send(data)
                    await asyncio.sleep(0)  # every client gets its turn

    async def serve_forever() -> None:
        async with serve(handle, "127.0.0.1", port, compression=None):
            ready.set()
            await asyncio.Future()

    asyncio.run(serve_forever())


async def receive(port: int, clients: int, count: int) -> float:
    """CPU seconds this process spent while ``clients`` clients took ``count`` revisions."""
    url = f"ws://127.0.0.1:{port}"
    connected = [
        WSClient(url, "doc", SyncClient(f"c{i}"), connect_options={"compression": None})
        for i in range(clients)
    ]
    for client in connected:
        await client.start()
    for client in connected:
        await client.wait_synced(30)
    started = time.process_time()
    for client in connected:
        client._post({"type": "go"})  # the script's cue, not part of the protocol
    await asyncio.gather(
        *(c.wait_until(lambda c=c: c.client.rev == count, 300) for c in connected)  # type: ignore[misc]
    )
    cpu = time.process_time() - started
    for client in connected:
        await client.stop()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--revisions", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1000)
    arguments = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=replay, args=(port, arguments.size, arguments.revisions, ready), daemon=True
    )
    server.start()
    try:
        ready.wait(60)
        cpu = asyncio.run(receive(port, arguments.clients, arguments.revisions))
    finally:
        server.terminate()
    per = 1e6 * cpu / (arguments.clients * arguments.revisions)
    print(
        f"{arguments.clients} clients, {arguments.revisions} revisions of a "
        f"{arguments.size}-character document: {per:.1f} µs of client CPU per revision received"
    )


if __name__ == "__main__":
    main()
