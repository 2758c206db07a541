"""Handing what a socket reads to a parser a slice at a time.

An asyncio protocol's ``data_received`` gets whatever one read of the socket brought: up to
256 KiB with uvloop. The WebSocket library and slixmpp parse all of it, and handle every
message in it, in that one callback: of small messages that is thousands, and the event loop
runs nothing else meanwhile (5,000 cursor updates held it 38 ms; 5,000 XMPP messages,
137-505 ms, on a slow machine). ``SlicedReads`` parses the first ``SLICE_BYTES`` at once and
each next slice on a later turn of the loop, with the transport's reading paused until the
last is parsed, so that the bytes keep their order and no more pile up meanwhile.

The server's WebSocket protocol (``app/serving.py``) and the XMPP client
(``sdk/xmpp/connection.py``) each keep one, and are its ``SliceParser``. It holds no
reference to its parser (it is handed one at each call): a connection's protocol and its
reads would otherwise make a cycle that only the full garbage collector breaks, keeping a
closed connection's buffers alive until it runs.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

# A few dozen small messages: a few milliseconds of parsing on a slow machine.
SLICE_BYTES = 4 * 1024


class SliceParser(Protocol):
    """What reads through ``SlicedReads``; each hook is asked when it matters."""

    def parse_slice(self, data: bytes) -> None:
        """Parse (and handle) one slice."""

    def parsing_blocked(self) -> bool:
        """Parse nothing now (the server's peer is not reading what we write): what was read
        waits, with reading paused, until ``SlicedReads.wake``."""

    def stream_over(self) -> bool:
        """The stream is finished (closed, or broken by a parse error): what is left to parse
        means nothing and is dropped."""

    def may_resume_reading(self) -> bool:
        """Reading may resume once everything is parsed (uvicorn pauses reading itself while
        its queue is full, and resumes it when that empties)."""


class SlicedReads:
    """What one connection read and has not parsed yet."""

    __slots__ = ("_booked", "_unparsed", "slice_bytes", "transport")

    def __init__(self, slice_bytes: int = SLICE_BYTES) -> None:
        if slice_bytes < 1:
            raise ValueError(f"slice_bytes must be positive, not {slice_bytes}")
        self.slice_bytes = slice_bytes
        self.transport: asyncio.Transport | None = None
        self._unparsed = b""
        self._booked = False  # a turn of the loop is booked to parse on

    @property
    def pending(self) -> int:
        """Bytes read and not parsed yet."""
        return len(self._unparsed)

    def connected(self, transport: asyncio.Transport) -> None:
        """A new connection, or the same one after STARTTLS (whose ``<proceed/>`` was the last
        thing read before it): nothing read before belongs to it."""
        self.transport = transport
        self._unparsed = b""

    def feed(self, parser: SliceParser, data: bytes) -> None:
        """What one read brought (``data_received``)."""
        if self._unparsed:
            # Read while slices were waiting (someone else resumed reading, or a TLS layer
            # had it decrypted already): it comes after them.
            self._unparsed += data
            self._pause()
            return
        self._take(parser, data)

    def wake(self, parser: SliceParser) -> None:
        """What ``parsing_blocked`` waited for is over: parse on, from the next turn."""
        if self._unparsed:
            self._book(parser)

    def _take(self, parser: SliceParser, data: bytes) -> None:
        if parser.parsing_blocked():
            self._unparsed = data
            self._pause()
            return
        if len(data) > self.slice_bytes:
            self._unparsed = data[self.slice_bytes :]
            data = data[: self.slice_bytes]
            self._pause()
            self._book(parser)
        parser.parse_slice(data)

    def _pause(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def _book(self, parser: SliceParser) -> None:
        if not self._booked:
            self._booked = True
            asyncio.get_running_loop().call_soon(self._go_on, parser)

    def _go_on(self, parser: SliceParser) -> None:
        self._booked = False
        rest, self._unparsed = self._unparsed, b""
        transport = self.transport
        if transport is None or transport.is_closing() or parser.stream_over():
            return  # the stream is gone: the rest belongs to nothing
        if rest:
            self._take(parser, rest)
        if not self._unparsed and parser.may_resume_reading():
            transport.resume_reading()
