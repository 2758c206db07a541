"""``SlicedReads`` with a recording parser and transport, turn by turn of a real event loop.
The protocols that use it are tested over real sockets (tests/app/http/test_ws_framing.py,
test_ws_loop_lag.py, tests/app/buses/xmpp/test_stream_loop_lag.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sdk.sliced_reads import SlicedReads


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.pauses = 0
        self.closing = False

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closing


class Parser:
    def __init__(self) -> None:
        self.slices: list[bytes] = []
        self.blocked = False
        self.over = False
        self.resumable = True

    def parse_slice(self, data: bytes) -> None:
        self.slices.append(data)

    def parsing_blocked(self) -> bool:
        return self.blocked

    def stream_over(self) -> bool:
        return self.over

    def may_resume_reading(self) -> bool:
        return self.resumable

    @property
    def parsed(self) -> bytes:
        return b"".join(self.slices)


async def next_turn() -> None:
    await asyncio.sleep(0)


def run(scenario: Callable[[SlicedReads, Parser, Transport], Awaitable[None]]) -> None:
    async def main() -> None:
        reads = SlicedReads(slice_bytes=4)
        transport = Transport()
        reads.connected(transport)
        await scenario(reads, Parser(), transport)

    asyncio.run(main())


def test_a_small_read_is_parsed_at_once_and_reading_goes_on() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        reads.feed(parser, b"abcd")
        assert parser.slices == [b"abcd"]
        assert (transport.pauses, reads.pending) == (0, 0)

    run(scenario)


def test_a_big_read_is_parsed_one_slice_per_turn_in_order_with_reading_paused() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        reads.feed(parser, b"0123456789")
        assert parser.slices == [b"0123"]
        assert transport.paused and reads.pending == 6
        await next_turn()
        assert parser.slices == [b"0123", b"4567"]
        assert transport.paused
        await next_turn()
        assert parser.slices == [b"0123", b"4567", b"89"]
        assert not transport.paused and reads.pending == 0

    run(scenario)


def test_what_is_read_meanwhile_comes_after_the_slices() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        reads.feed(parser, b"012345")
        transport.resume_reading()  # as uvicorn does when its queue empties
        reads.feed(parser, b"ab")
        assert transport.paused, "reading paused again"
        for _ in range(3):
            await next_turn()
        assert parser.parsed == b"012345ab"
        assert all(len(piece) <= 4 for piece in parser.slices)
        assert not transport.paused

    run(scenario)


def test_reading_stays_paused_when_the_parser_does_not_allow_resuming() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        parser.resumable = False  # uvicorn's own pause: it resumes reading itself
        reads.feed(parser, b"0123456")
        await next_turn()
        assert parser.parsed == b"0123456"
        assert transport.paused

    run(scenario)


def test_nothing_is_parsed_while_blocked_and_all_of_it_once_woken() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        parser.blocked = True
        reads.feed(parser, b"ab")
        reads.feed(parser, b"cdefgh")
        assert parser.slices == [] and transport.paused and reads.pending == 8
        for _ in range(3):
            await next_turn()
        assert parser.slices == [], "no turn was booked while blocked"
        parser.blocked = False
        reads.wake(parser)
        assert parser.slices == [], "woken: parsing goes on from the next turn, not inside"
        for _ in range(3):
            await next_turn()
        assert parser.slices == [b"abcd", b"efgh"]
        assert not transport.paused

    run(scenario)


def test_blocked_midway_the_rest_waits_for_the_wake() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        reads.feed(parser, b"0123456789")
        parser.blocked = True
        await next_turn()
        assert parser.slices == [b"0123"] and reads.pending == 6 and transport.paused
        parser.blocked = False
        reads.wake(parser)
        reads.wake(parser)  # twice: still one turn booked
        await next_turn()
        assert parser.slices == [b"0123", b"4567"]
        await next_turn()
        assert parser.parsed == b"0123456789"

    run(scenario)


@pytest.mark.parametrize("how", ["closing", "over"])
def test_the_rest_of_a_finished_stream_is_dropped(how: str) -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        reads.feed(parser, b"0123456789")
        if how == "closing":
            transport.closing = True
        else:
            parser.over = True
        await next_turn()
        assert parser.slices == [b"0123"] and reads.pending == 0
        assert transport.paused, "a finished stream is not read again"

    run(scenario)


def test_a_new_connection_forgets_what_the_old_one_left() -> None:
    async def scenario(reads: SlicedReads, parser: Parser, transport: Transport) -> None:
        reads.feed(parser, b"0123456789")
        upgraded = Transport()  # STARTTLS: the same protocol, a new transport
        reads.connected(upgraded)
        assert reads.pending == 0
        await next_turn()
        assert parser.slices == [b"0123"]
        reads.feed(parser, b"tls")
        assert parser.slices == [b"0123", b"tls"] and not upgraded.paused

    run(scenario)


def test_it_keeps_no_reference_to_its_parser() -> None:
    # A protocol holds its reads; were the reads to hold the protocol, a closed connection
    # would wait for the full collector to be freed.
    async def main() -> weakref.ref[Any]:
        reads = SlicedReads(slice_bytes=4)
        reads.connected(Transport())
        parser = Parser()
        reads.feed(parser, b"01234567")
        await next_turn()
        gone = weakref.ref(parser)
        del parser
        return gone

    gc.disable()
    try:
        assert asyncio.run(main())() is None
    finally:
        gc.enable()


def test_a_slice_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SlicedReads(slice_bytes=0)
