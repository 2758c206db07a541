"""How uvicorn serves the app: the same choices for ``collab serve``, the tests' live servers
and the benchmarks, so what is measured and tested is what runs.

- uvloop and httptools: the fastest event loop and HTTP parser uvicorn has (profiling the
  full stack under 16 editors, uvloop alone cut the server's CPU by about a sixth).
- ``websockets-sansio``: the websockets library's protocol without its own I/O layer, driven
  by uvicorn's transport directly; here a subclass of it, ``FramingProtocol``, that also
  writes messages to the transport itself (below).
- No permessage-deflate: our messages are small JSON (a keystroke's revision is about 200
  bytes), compressing each costs CPU per member, and a deflate context per connection costs
  memory (about 100 KB each at the defaults).

Fan-out is the server's hot path: each revision goes to every member of its document. Sent as
ASGI messages, each one passes Starlette's and uvicorn's layers and the websockets library's
framing, then makes a system call, per member, per revision (profiled at 64 editors: a third
of the server's time). ``FramingProtocol`` offers the app one more way to send, under the ASGI
scope extension ``SEND_MANY_EXTENSION``: a list of texts, each framed here (a text frame from
server to client is a two- to ten-byte header and the UTF-8 bytes: no mask, no extension) and
all written with one ``transport.write``. It keeps what ``send`` keeps: it waits while the
transport is paused (flow control), never writes after the close frame or once the peer is
gone, and raises ``ClientDisconnected`` then, as ``send`` does.
"""

from __future__ import annotations

import importlib.util
import socket
import struct
from asyncio import BaseTransport
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from app.core.members import SEND_MANY_EXTENSION, SEND_NOW_EXTENSION
from sdk.sliced_reads import SlicedReads

# The text frame's first byte: FIN and opcode 1. Server frames are not masked (RFC 6455 5.1).
_TEXT = 0x81
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_OPEN = State.OPEN


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked WebSocket text frame carrying ``payload`` (UTF-8)."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT, size)) + payload
    if size < 65536:
        return _MEDIUM.pack(_TEXT, 126, size) + payload
    return _LONG.pack(_TEXT, 127, size) + payload


class FramingProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, plus ``send_many`` (see the module docstring),
    parsing what it reads a slice at a time (``sdk/sliced_reads.py``), and nothing while
    its peer does not read what it writes."""

    _reads: SlicedReads | None = None

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        self._reads = SlicedReads()
        self._reads.connected(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self._reads is not None  # connection_made came first
        self._reads.feed(self, data)

    # -- SliceParser --------------------------------------------------------------------------

    def parse_slice(self, data: bytes) -> None:
        super().data_received(data)
        self._write_pongs()

    def parsing_blocked(self) -> bool:
        # The peer is not reading what we write (answers to its pings included): read no
        # more from it until it does, or its pings would grow our buffer without end.
        return not self.writable.is_set()

    def stream_over(self) -> bool:
        return self.disconnected or self.conn.parser_exc is not None

    def may_resume_reading(self) -> bool:
        return not self.read_paused  # else uvicorn resumes once its queue is empty

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._reads is not None:
            self._reads.wake(self)

    def handle_ping(self) -> None:
        # The library queues the pong itself; uvicorn wrote each at once, a system call per
        # ping. They go out together once the slice is parsed (``_write_pongs``).
        pass

    def _write_pongs(self) -> None:
        if self.conn.state is _OPEN and not self.transport.is_closing():
            output = self.conn.data_to_send()
            if output:
                self.transport.write(b"".join(output))

    async def run_asgi(self) -> None:
        # Only without extensions: with permessage-deflate, framing is the library's job.
        if not self.conn.extensions:
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[SEND_MANY_EXTENSION] = self.send_many
            extensions[SEND_NOW_EXTENSION] = self.send_now
        try:
            await super().run_asgi()
        finally:
            # The bound methods in the scope make a cycle (protocol, scope, method,
            # protocol) that only the full collector would break: a closed connection's
            # whole graph (transport, buffers, tasks, about 110 objects) would wait for it,
            # and 500 closed connections cost 25 MB until it ran (docs/benchmarks.md).
            self.scope["extensions"].pop(SEND_MANY_EXTENSION, None)
            self.scope["extensions"].pop(SEND_NOW_EXTENSION, None)

    def _open(self) -> bool:
        return (
            not self.disconnected
            and not self.close_sent
            and self.handshake_complete
            and self.conn.state is State.OPEN
        )

    async def send_many(self, texts: list[str]) -> None:
        """Send each of ``texts`` as one text message, all in one write."""
        await self.writable.wait()
        if not self._open():
            raise ClientDisconnected()
        self.transport.write(b"".join([text_frame(text.encode()) for text in texts]))

    def send_now(self, texts: tuple[str, ...]) -> bool:
        """``send_many`` if the transport takes it without waiting; False (nothing sent) if
        it is paused or the connection is not open (then ``send_many`` waits, or raises).
        The frames are built once for every connection given the same tuple."""
        # ``_open`` and ``_framed`` written out: this runs for every member of every revision.
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.conn.state is not _OPEN
            or not self.writable.is_set()
        ):
            return False
        transport = self.transport
        if transport.is_closing():
            return False
        last = _last_framed
        transport.write(last[1] if last is not None and last[0] is texts else _framed(texts))
        return True


# The frames of the tuple most recently sent with ``send_now``: a broadcast hands the same
# tuple to every member, so it is framed once (held here, so ``is`` cannot be fooled).
_last_framed: tuple[tuple[str, ...], bytes] | None = None


def _framed(texts: tuple[str, ...]) -> bytes:
    global _last_framed
    last = _last_framed
    if last is not None and last[0] is texts:
        return last[1]
    framed = b"".join([text_frame(text.encode()) for text in texts])
    _last_framed = (texts, framed)
    return framed


class UpgradingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, letting go of its parser once it hands over a WebSocket.

    The parser calls back into the protocol, and the protocol holds the parser: uvicorn
    breaks that cycle when a connection is lost, but after an upgrade the connection's
    losses go to the WebSocket protocol, and the cycle (with the transport it holds) stayed
    until a full collection.
    """

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # Nothing reads it again: data_received returns right after the upgrade, and later
        # data goes to the WebSocket protocol.
        self.parser = None  # type: ignore[assignment]


def bound_socket(host: str, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port), not yet listening: what a
    parent binds and hands to ``collab serve --fd``, so that nobody can take its port
    between the choice and the server's start."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def inherited_socket(fd: int) -> socket.socket:
    """The TCP socket a parent process bound and handed down as ``fd`` (``collab serve
    --fd``): its port was ours from the moment it was chosen, where a port found free and
    bound later may be taken by someone else in between. ValueError if it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"file descriptor {fd} is not an open socket ({exc.strerror})") from None
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.detach()  # not ours to close
        raise ValueError(f"file descriptor {fd} is not a TCP socket")
    if sock.getsockname()[1] == 0:
        sock.detach()
        raise ValueError(f"the socket of file descriptor {fd} is not bound to a port")
    return sock


def uvicorn_options() -> dict[str, Any]:
    fast = importlib.util.find_spec("uvloop") is not None
    return {
        "loop": "uvloop" if fast else "asyncio",
        "http": UpgradingHttpToolsProtocol,  # httptools comes with uvicorn[standard]
        "ws": FramingProtocol,
        "ws_per_message_deflate": False,
    }
