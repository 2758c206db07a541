"""The kernel's floor for fan-out: CPU per message for one ``send`` on a loopback TCP socket.

    python -m bench.send_floor [--connections N] [--rounds R] [--size BYTES]

A server that sends each revision to N members makes at least one ``send`` system call per
member, whatever language it is written in. This measures that call alone: N loopback TCP
connections to a reader in another process (which only drains them), and R rounds of one
``send`` of ``--size`` bytes (about a keystroke's revision message) on every connection,
10 ms apart, as a fan-out of R revisions would. It prints the sending process's CPU per
``send``: on a machine where it is most of a peer's "server CPU per delivered message"
(docs/benchmarks-peers.md, S3), that peer does little else per member, and a server can
beat it only by doing less work per member than nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import selectors
import socket
import time
from multiprocessing.synchronize import Event


def drain(port: int, connections: int, expected: int, ready: Event) -> None:
    """Open ``connections`` to ``port`` and read until ``expected`` bytes have come."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    ready.set()
    received = 0
    while received < expected:
        for key, _ in selector.select(5):
            ready_socket = key.fileobj
            assert isinstance(ready_socket, socket.socket)
            try:
                received += len(ready_socket.recv(1 << 16))
            except BlockingIOError:
                continue
    for sock in sockets:
        sock.close()


def measure(connections: int, rounds: int, size: int) -> float:
    """Microseconds of this process's CPU per ``send``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(connections)
    port = listener.getsockname()[1]
    ready = multiprocessing.Event()
    reader = multiprocessing.Process(
        target=drain, args=(port, connections, connections * rounds * size, ready)
    )
    reader.start()
    accepted = [listener.accept()[0] for _ in range(connections)]
    for sock in accepted:
        # As every WebSocket server here sets it: each message goes out at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready.wait(30)
    message = b"x" * size
    cpu = 0.0
    for _ in range(rounds):
        started = time.process_time()
        for sock in accepted:
            sock.send(message)
        cpu += time.process_time() - started
        time.sleep(0.01)  # the reader drains; the next round finds empty buffers
    reader.join(60)
    for sock in accepted:
        sock.close()
    listener.close()
    return 1e6 * cpu / (connections * rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--size", type=int, default=200)
    arguments = parser.parse_args()
    floor = measure(arguments.connections, arguments.rounds, arguments.size)
    print(
        f"one send of {arguments.size} bytes on a loopback TCP socket, "
        f"{arguments.connections} connections: {floor:.1f} µs of the sender's CPU"
    )


if __name__ == "__main__":
    main()
