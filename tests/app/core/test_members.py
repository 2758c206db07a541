"""A member's sender: messages in order, several per write where the channel takes them, sent
at once when nothing waits, and the same bounds as one at a time."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.core.members import BATCH_MESSAGES, BatchChannel, Member, Person, TokenBucket
from tests.app.live import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


class BatchingChannel:
    """Records each write; ``gate`` holds every write until it is set."""

    def __init__(self, *, now: bool = False) -> None:
        self.writes: list[list[str]] = []
        self.gate = asyncio.Event()
        self.closed: tuple[int, str] | None = None
        self.now = now  # whether send_now writes (a transport that is not paused)

    def send_now(self, data: tuple[str, ...]) -> bool:
        if self.now and self.gate.is_set():
            self.writes.append(list(data))
            return True
        return False

    async def send_text(self, data: str) -> None:
        await self.send_many([data])

    async def send_many(self, data: list[str]) -> None:
        await self.gate.wait()
        self.writes.append(list(data))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def member_on(channel: BatchingChannel, queue_limit: int = 1000) -> Member:
    person = Person(session="s1", client="c1", name="N", color="#123456")
    member = Member(person, channel, queue_limit, TokenBucket(1000, 1000))
    member.start()
    return member


async def test_what_is_queued_while_a_write_waits_goes_out_in_one_write_in_order() -> None:
    channel = BatchingChannel()
    assert isinstance(channel, BatchChannel)
    member = member_on(channel)
    member.push({"n": 0})
    await asyncio.sleep(0)  # the sender takes the first and waits on the gate
    for n in range(1, 6):
        assert member.push({"n": n})
    channel.gate.set()
    await eventually(lambda: sum(map(len, channel.writes)) == 6, what="six messages")
    assert channel.writes == [
        ['{"n":0}'],
        [json.dumps({"n": n}, separators=(",", ":")) for n in range(1, 6)],
    ]
    assert member.queued_bytes == 0
    await member.stop()


async def test_a_write_carries_at_most_batch_messages_and_a_flush_sends_everything() -> None:
    channel = BatchingChannel()
    member = member_on(channel)
    count = 2 * BATCH_MESSAGES + 3
    for n in range(count):
        member.push(str(n))
    member.push({"type": "error"})
    channel.gate.set()
    await member.stop(4400, "bye", flush=True)
    sent = [text for write in channel.writes for text in write]
    assert sent == [str(n) for n in range(count)] + ['{"type":"error"}']
    assert max(map(len, channel.writes)) <= BATCH_MESSAGES
    assert channel.closed == (4400, "bye")


async def test_a_failed_write_closes_the_member() -> None:
    class Broken(BatchingChannel):
        async def send_many(self, data: list[str]) -> None:
            raise ConnectionResetError

    member = member_on(Broken())
    member.push("x")
    await asyncio.wait_for(member.closed.wait(), 5)
    await member.stop()


async def test_an_idle_member_is_sent_a_broadcast_at_once_and_a_busy_one_queues_it_in_order() -> (
    None
):
    channel = BatchingChannel(now=True)
    channel.gate.set()
    member = member_on(channel)
    assert member.push_many(("a", "b"))
    assert channel.writes == [["a", "b"]]  # written by push_many itself: nothing queued
    assert member.queue.qsize() == 0 and member.queued_bytes == 0

    channel.gate.clear()  # the transport is paused: queued, and sent in order once it is not
    assert member.push_many(("c",))
    await asyncio.sleep(0)  # the sender takes "c" and waits
    assert member.push_many(("d", "e"))  # not written ahead of "c", though the gate opens
    channel.gate.set()
    assert member.push_many(("f",))  # the sender still holds "c": queued behind it
    await eventually(lambda: sum(map(len, channel.writes)) == 6, what="six messages")
    assert [t for w in channel.writes for t in w] == ["a", "b", "c", "d", "e", "f"]
    await member.stop()


async def test_a_member_is_sent_directly_again_once_its_queue_is_written_but_never_closed() -> None:
    channel = BatchingChannel(now=True)
    member = member_on(channel)  # the gate is shut: the first message queues
    assert member.push_many(("a",))
    await asyncio.sleep(0)
    assert member.backlogged
    channel.gate.set()
    await eventually(lambda: not member.backlogged, what="the queue written out")
    writes = len(channel.writes)
    assert member.push_many(("b",))
    assert len(channel.writes) == writes + 1 and channel.writes[-1] == ["b"]  # directly

    member.mark_closed()
    assert member.backlogged
    assert member.push_many(("c",))  # taken (a closed member is no broadcaster's problem)
    assert [t for w in channel.writes for t in w] == ["a", "b"]  # but never sent
    await member.stop()


async def test_push_many_keeps_the_queue_bounds() -> None:
    channel = BatchingChannel(now=True)  # paused: everything queues
    member = member_on(channel, queue_limit=3)
    assert member.push_many(("1",))
    await asyncio.sleep(0)  # taken by the sender, which waits
    assert member.push_many(("2", "3", "4"))
    assert not member.push_many(("5",))  # a fourth queued message is one too many
    await member.stop()


async def test_a_direct_send_that_fails_queues_the_messages_instead() -> None:
    class Failing(BatchingChannel):
        def send_now(self, data: tuple[str, ...]) -> bool:
            raise RuntimeError("the transport is gone")

    channel = Failing()
    channel.gate.set()
    member = member_on(channel)
    assert member.push_many(("a", "b"))  # the broadcaster never sees the error
    await eventually(lambda: sum(map(len, channel.writes)) == 2, what="two messages")
    assert [t for w in channel.writes for t in w] == ["a", "b"]
    await member.stop()
