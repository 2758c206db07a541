"""Rooms and the registry, without sockets: members are fake channels on a real SQLite store."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.core import members as members_module
from app.core.errors import DocumentNotFound
from app.core.extensions import Extensions
from app.core.members import (
    CLOSE_DELETED,
    CLOSE_TOO_SLOW,
    Member,
    Person,
    TokenBucket,
)
from app.core.registry import RoomRegistry
from app.core.rooms import Room
from app.metrics import Metrics, MetricsExtension
from app.stores.sql.engine import make_engine
from app.stores.sql.migrate import upgrade
from app.stores.sql.store import SqlStore as Store
from sync import ops, patches
from sync.fold import fold
from sync.protocol import Edit, OpId, Revision, from_wire
from tests.app.live import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class FakeChannel:
    """Records what a member is sent; ``stuck`` never finishes a send, like a dead peer."""

    def __init__(self, *, stuck: bool = False, close_hangs: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.stuck = stuck
        self.close_hangs = close_hangs

    async def send_text(self, data: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(json.loads(data))

    async def close(self, code: int, reason: str) -> None:
        if self.close_hangs:
            await asyncio.Event().wait()
        self.closed = (code, reason)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


def make_settings(path: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, data_dir=path, **overrides)


async def open_store(settings: Settings) -> Store:
    engine = make_engine(settings)
    await upgrade(engine)
    return Store(engine, snapshot_every=settings.snapshot_every)


def registry_for(store: Store, data_dir: Path, **overrides: Any) -> RoomRegistry:
    return RoomRegistry(
        store, make_settings(data_dir, **overrides), Extensions([MetricsExtension(Metrics())])
    )


_sessions = iter(range(1, 1_000_000))


def make_member(channel: FakeChannel, client: str = "", queue_limit: int = 1000) -> Member:
    session = f"s{next(_sessions)}"
    person = Person(
        session=session, client=client or f"c-{session}", name=f"Name {session}", color="#123456"
    )
    member = Member(person, channel, queue_limit, TokenBucket(1000, 1000))
    member.start()
    return member


def insert_at(room: Room, client: str, seq: int, position: int, text: str) -> Edit:
    """An edit on the room's current head."""
    head = room.sequencer.text
    position = min(position, len(head))
    op = ops.replace(len(head), position, "", text)
    return Edit(room.sequencer.rev, OpId(client, seq), patches.patch_text(head, op))


def replay(messages: list[dict[str, Any]], start: tuple[int, str] | None = None) -> tuple[int, str]:
    """Fold what a member received, as a client would, checking order: the catch-up (a
    snapshot, or revisions after ``start``), then revisions with no gap and no repeat."""
    rev, text = start or (-1, "")
    for message in messages:
        kind = message["type"]
        if kind == "snapshot":
            assert rev == -1 or start is not None, "a snapshot after the catch-up"
            rev, text = message["rev"], message["text"]
        elif kind == "revision":
            assert rev != -1, "a revision before the catch-up"
            assert message["rev"] == rev + 1, f"revision {message['rev']} after {rev}"
            revision = from_wire(message)
            assert isinstance(revision, Revision)
            text, _ = fold(text, revision)
            rev = revision.rev
        elif kind == "synced":
            assert message["rev"] == rev
    return rev, text


def boundaries(text: str) -> list[int]:
    """Where a new token may go without splitting one: the ends, and after each '>'."""
    return [0, len(text)] + [i + 1 for i, c in enumerate(text) if c == ">"]


# -- loading and unloading ------------------------------------------------------------------


async def test_a_room_is_unloaded_after_the_idle_grace_period(store: Store, data_dir: Path) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=0.05)
    room = await registry.acquire("d1")
    await registry.release(room)
    assert registry.rooms == {"d1": room}  # still warm
    unload = room.unload_task
    assert unload is not None
    await unload
    assert registry.rooms == {}


async def test_acquiring_during_the_grace_period_keeps_the_room(
    store: Store, data_dir: Path
) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=30)
    room = await registry.acquire("d1")
    await registry.release(room)
    unload = room.unload_task
    assert unload is not None
    assert await registry.acquire("d1") is room
    assert unload.cancelled() or unload.cancelling()
    assert room.unload_task is None
    await registry.release(room)
    await registry.close()


async def test_concurrent_acquires_share_one_load(
    store: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=0)
    loads = 0
    real_load = store.load

    async def counting_load(doc_id: str, *, history: int) -> Any:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return await real_load(doc_id, history=history)

    monkeypatch.setattr(store, "load", counting_load)
    rooms = await asyncio.gather(*(registry.acquire("d1") for _ in range(10)))
    assert loads == 1
    assert all(r is rooms[0] for r in rooms)
    assert rooms[0].users == 10
    for room in rooms:
        await registry.release(room)
    assert registry.rooms == {}


async def test_a_cancelled_acquire_does_not_cancel_the_load_for_others(
    store: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=0)
    gate = asyncio.Event()
    real_load = store.load

    async def slow_load(doc_id: str, *, history: int) -> Any:
        await gate.wait()
        return await real_load(doc_id, history=history)

    monkeypatch.setattr(store, "load", slow_load)
    first = asyncio.create_task(registry.acquire("d1"))
    second = asyncio.create_task(registry.acquire("d1"))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    room = await second
    assert first.cancelled()
    assert room.users == 1
    await registry.release(room)
    assert registry.rooms == {}
    assert registry._loading == {}


async def test_a_document_deleted_while_loading_does_not_come_back(
    store: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create("d1", "D1", "text")
    registry = registry_for(store, data_dir, idle_unload_seconds=0)
    read, gate = asyncio.Event(), asyncio.Event()
    real_load = store.load

    async def load_then_wait(doc_id: str, *, history: int) -> Any:
        loaded = await real_load(doc_id, history=history)
        read.set()
        await gate.wait()
        return loaded

    monkeypatch.setattr(store, "load", load_then_wait)
    acquiring = asyncio.create_task(registry.acquire("d1"))
    await read.wait()
    await store.delete("d1")  # as DELETE /api/documents/d1 does
    await registry.forget("d1")
    gate.set()
    with pytest.raises(DocumentNotFound):
        await acquiring
    assert registry.rooms == {}


async def test_unknown_documents_leave_nothing_behind(store: Store, data_dir: Path) -> None:
    registry = registry_for(store, data_dir)
    for attempt in range(20):
        with pytest.raises(DocumentNotFound):
            await registry.acquire(f"missing-{attempt}")
    results = await asyncio.gather(
        *(registry.acquire("missing") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, DocumentNotFound) for r in results)
    assert registry.rooms == {}
    assert registry._loading == {}


async def test_memory_does_not_grow_with_documents_opened_and_closed(
    store: Store, data_dir: Path
) -> None:
    registry = registry_for(store, data_dir, idle_unload_seconds=0)
    body = "x" * 20_000  # a leaked room would hold at least this much
    refs: list[weakref.ref[Room]] = []

    async def open_and_close(doc_id: str) -> None:
        await store.create(doc_id, doc_id, body)
        room = await registry.acquire(doc_id)
        channel = FakeChannel()
        member = make_member(channel)
        await room.join(member, 0, full=True, welcome={"type": "joined"})
        await room.submit(insert_at(room, member.person.client, 1, 0, "hi"), "me")
        room.remove(member)
        await member.stop()
        await registry.release(room)
        refs.append(weakref.ref(room))

    for i in range(40):  # warm caches (SQLAlchemy's statement cache, the metrics)
        await open_and_close(f"warm-{i}")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(150):
            await open_and_close(f"doc-{i}")
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert registry.rooms == {}
    assert registry._loading == {}
    assert all(ref() is None for ref in refs), "a room outlived its unloading"
    # 150 leaked rooms would hold 150 * 20 kB of text twice over; allow noise well below.
    assert growth < 1_000_000, f"memory grew by {growth} bytes"


# -- members --------------------------------------------------------------------------------


async def test_joining_while_others_edit_gets_every_revision_once_in_order(
    store: Store, data_dir: Path
) -> None:
    await store.create("d1", "D1", "start")
    registry = registry_for(store, data_dir, history_limit=5, max_catch_up=8)
    room = await registry.acquire("d1")
    rng = random.Random(7)
    joined: list[tuple[FakeChannel, tuple[int, str]]] = []
    texts = {0: "start"}

    async def writer(client: str) -> None:
        for seq in range(1, 31):
            position = rng.choice(boundaries(room.sequencer.text))
            edit = insert_at(room, client, seq, position, f"<{client}{seq}>")
            outcome = await room.submit(edit, client)
            texts[outcome.revision.rev] = outcome.text
            await asyncio.sleep(rng.choice([0, 0, 0.001]))

    async def joiner(index: int) -> None:
        # Spread over the writing: joiner i comes once there are 4 * i revisions.
        await eventually(lambda: room.sequencer.kept_rev >= 4 * index, what=f"revision {4 * index}")
        channel = FakeChannel()
        # Joins wait for the lock behind at most one batch (it is fair), so a join 3
        # behind stays within max_catch_up and gets revisions, not a snapshot. Only the
        # committed head counts: a batch in flight is not there yet for anyone.
        head = room.sequencer.kept_rev
        since = [0, head, max(0, head - 3)][index % 3]
        await eventually(lambda: since in texts, what=f"the text at {since}")
        joined.append((channel, (since, texts[since])))
        await room.join(make_member(channel), since, full=since == 0, welcome={"type": "joined"})

    await asyncio.gather(writer("a"), writer("b"), *(joiner(i) for i in range(12)))
    head = room.sequencer.rev
    assert head == 60
    await eventually(
        lambda: all(replay(c.sent, start)[0] == head for c, start in joined),
        what="members catching up",
    )
    kinds = set()
    for channel, start in joined:
        assert channel.sent[0]["type"] == "joined"
        assert replay(channel.sent, start) == (head, room.sequencer.text)
        kinds.add(channel.sent[1]["type"])
    assert {"snapshot", "revision"} <= kinds  # both kinds of catch-up were exercised
    await registry.close()


async def test_a_catch_up_too_big_for_the_queue_becomes_a_snapshot(
    store: Store, data_dir: Path
) -> None:
    await store.create("d1", "D1", "")
    registry = registry_for(store, data_dir)
    room = await registry.acquire("d1")
    for seq in range(1, 11):
        await room.submit(insert_at(room, "w", seq, 0, "x"), "w")
    channel = FakeChannel()
    member = make_member(channel, queue_limit=5)
    await room.join(member, 0, full=False, welcome={"type": "joined"})
    await eventually(lambda: len(channel.sent) == 2, what="the catch-up")
    assert [m["type"] for m in channel.sent] == ["joined", "snapshot"]
    assert channel.sent[1]["text"] == "x" * 10
    await registry.close()


async def test_a_stuck_member_is_dropped_and_the_others_get_everything(
    store: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(members_module, "CLOSE_TIMEOUT_SECONDS", 0.05)
    await store.create("d1", "D1", "")
    registry = registry_for(store, data_dir)
    room = await registry.acquire("d1")
    stuck_channel, hung_channel, good_channel = (
        FakeChannel(stuck=True),
        FakeChannel(stuck=True, close_hangs=True),
        FakeChannel(),
    )
    stuck, hung, good = (
        make_member(stuck_channel, queue_limit=3),
        make_member(hung_channel, queue_limit=3),
        make_member(good_channel, queue_limit=3),
    )
    for member in (stuck, hung, good):
        await room.join(member, 0, full=True, welcome={"type": "joined"})
    for seq in range(1, 21):
        await room.submit(insert_at(room, "w", seq, 0, "x"), "w")
        await asyncio.sleep(0)  # the good member's sender keeps up
    assert set(room.members) == {good.person.session}
    assert stuck.closed.is_set() and hung.closed.is_set()
    await eventually(lambda: stuck_channel.closed is not None, what="closing the stuck member")
    assert stuck_channel.closed is not None and stuck_channel.closed[0] == CLOSE_TOO_SLOW
    await hung.stop()  # returns although its close never does
    await eventually(lambda: replay(good_channel.sent)[0] == 20, what="the good member")
    assert replay(good_channel.sent) == (20, "x" * 20)
    left = {
        m["person"]["session"] for m in good_channel.of_type("presence") if m["event"] == "leave"
    }
    assert left == {stuck.person.session, hung.person.session}
    await registry.close()


async def test_stop_with_flush_sends_what_was_queued_before_closing(
    store: Store, data_dir: Path
) -> None:
    channel = FakeChannel()
    member = make_member(channel)
    member.push({"type": "error", "code": "protocol-violation", "message": "bye"})
    await asyncio.gather(member.stop(4400, "bye", flush=True), member.stop())
    assert channel.sent == [{"type": "error", "code": "protocol-violation", "message": "bye"}]
    assert channel.closed == (4400, "bye")
    assert member.push({"type": "late"})  # accepted and ignored
    assert len(channel.sent) == 1


async def test_forgetting_a_document_closes_its_members_4410(store: Store, data_dir: Path) -> None:
    await store.create("d1", "D1", "")
    registry = registry_for(store, data_dir)
    room = await registry.acquire("d1")
    channel = FakeChannel()
    await room.join(make_member(channel), 0, full=True, welcome={"type": "joined"})
    await registry.forget("d1")
    assert channel.closed is not None and channel.closed[0] == CLOSE_DELETED
    assert registry.rooms == {}
    await registry.release(room)  # the member's handler ends later: harmless
    assert registry.rooms == {}


# -- several processes ----------------------------------------------------------------------


async def test_two_registries_on_one_sqlite_file_converge(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    store_a, store_b = await open_store(settings), await open_store(settings)
    try:
        await store_a.create("d1", "D1", "shared")
        registry_a = RoomRegistry(store_a, settings, Extensions([MetricsExtension(Metrics())]))
        registry_b = RoomRegistry(store_b, settings, Extensions([MetricsExtension(Metrics())]))
        room_a, room_b = await registry_a.acquire("d1"), await registry_b.acquire("d1")
        channel_a, channel_b = FakeChannel(), FakeChannel()
        await room_a.join(make_member(channel_a), 0, full=True, welcome={"type": "joined"})
        await room_b.join(make_member(channel_b), 0, full=True, welcome={"type": "joined"})
        rng = random.Random(11)

        async def edit_through(room: Room, client: str) -> None:
            for seq in range(1, 26):
                # Based on whatever this process has seen: often stale, so its commit
                # finds the head moved, folds in the other's revisions and retries.
                position = rng.choice(boundaries(room.sequencer.text))
                edit = insert_at(room, client, seq, position, f"<{client}{seq}>")
                await room.submit(edit, client)
                await asyncio.sleep(rng.choice([0, 0.001]))

        await asyncio.gather(edit_through(room_a, "a"), edit_through(room_b, "b"))
        await room_a.refresh()
        await room_b.refresh()
        assert room_a.sequencer.rev == room_b.sequencer.rev == 50
        assert room_a.sequencer.text == room_b.sequencer.text
        text = room_a.sequencer.text
        for client in ("a", "b"):
            for seq in range(1, 26):
                assert text.count(f"<{client}{seq}>") == 1
        assert await store_a.text_at("d1", 50) == text
        stored, _ = await store_a.history("d1", offset=0, limit=100)
        rebased = [s for s in stored if s.revision.base < s.revision.rev - 1]
        assert rebased, "the two processes never raced: the test proves nothing"
        await eventually(
            lambda: replay(channel_a.sent)[0] == replay(channel_b.sent)[0] == 50, what="members"
        )
        assert replay(channel_a.sent) == replay(channel_b.sent) == (50, text)
        await registry_a.close()
        await registry_b.close()
    finally:
        await store_a.engine.dispose()
        await store_b.engine.dispose()


async def test_a_flood_of_cursor_moves_is_coalesced_newest_first(
    store: Store, data_dir: Path
) -> None:
    await store.create("d1", "D1", "x" * 2000)
    registry = registry_for(store, data_dir)
    room = await registry.acquire("d1")
    mover, watcher = FakeChannel(), FakeChannel()
    moving, watching = make_member(mover), make_member(watcher)
    for member in (moving, watching):
        await room.join(member, 0, full=True, welcome={"type": "joined"})
    for cursor in range(1000):
        moving.person.cursor = cursor
        room.update_presence(moving)
        if cursor % 100 == 0:
            await asyncio.sleep(0)
    await eventually(
        lambda: any(m["person"]["cursor"] == 999 for m in watcher.of_type("presence")),
        what="the newest cursor",
    )
    updates = [m for m in watcher.of_type("presence") if m["event"] == "update"]
    assert len(updates) <= 20, f"{len(updates)} updates sent for one burst"
    assert updates[-1]["person"]["cursor"] == 999
    cursors = [m["person"]["cursor"] for m in updates]
    assert cursors == sorted(cursors)  # never an older position after a newer one
    assert not mover.of_type("presence") or all(
        m["person"]["session"] != moving.person.session for m in mover.of_type("presence")
    )
    await registry.close()


async def test_a_member_whose_queue_holds_too_much_text_is_closed(
    store: Store, data_dir: Path
) -> None:
    # A client that never reads and keeps asking for the snapshot of a large document: the
    # queue is bounded in size, not only in messages, so it is closed as too slow long before
    # it holds gigabytes. One message alone, however large, always fits.
    await store.create("big", "Big", "x" * 300_000)
    registry = registry_for(store, data_dir)
    room = await registry.acquire("big")
    stuck_channel = FakeChannel(stuck=True)
    stuck = make_member(stuck_channel)
    stuck.byte_limit = 1_000_000
    await room.join(stuck, 0, full=True, welcome={"type": "joined"})
    assert stuck.person.session in room.members
    # The joined message is taken by the sender (and never finishes); the join's snapshot and
    # two more, 300,000 characters each, fit under the bound; a fourth does not.
    for _ in range(2):
        await room.resync(stuck, 0, full=True)
    assert not stuck.closed.is_set()
    assert 900_000 <= stuck.queued_bytes <= 1_000_000
    await room.resync(stuck, 0, full=True)
    assert stuck.closed.is_set()
    assert stuck.person.session not in room.members
    await eventually(lambda: stuck_channel.closed is not None, what="closing the stuck member")
    assert stuck_channel.closed is not None and stuck_channel.closed[0] == CLOSE_TOO_SLOW

    # A member alone with a message larger than the bound still gets it.
    good_channel = FakeChannel()
    good = make_member(good_channel)
    good.byte_limit = 65_536
    await room.join(good, 0, full=True, welcome={"type": "joined"})
    await eventually(lambda: bool(good_channel.of_type("snapshot")), what="the big snapshot")
    assert good.person.session in room.members
    await registry.close()
