"""Group commit under concurrency: many authors, batches of every size, commits that fail or
lose a race to another process, and repeated operations. Whatever the interleaving, nothing
is acknowledged or sent before it is durable, and the room, the store and every member agree.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import Settings
from app.core import commits
from app.core.errors import AppError
from app.core.extensions import Extensions
from app.core.members import Member, Person, TokenBucket
from app.core.registry import RoomRegistry
from app.core.rooms import Room
from app.core.store import AppendResult, Commit
from app.stores.memory import MemoryStore
from sync import ops, patches
from sync.errors import SyncError
from sync.protocol import Edit, OpId, Revision
from sync.server import Placement, Sequencer
from tests.app.core.test_rooms import replay


async def open_room(store: MemoryStore, **settings: Any) -> tuple[RoomRegistry, Room]:
    """The room of a new, empty document "doc" in ``store``, and the registry holding it."""
    registry = RoomRegistry(
        store,
        Settings(_env_file=None, data_dir=Path("unused"), **settings),  # type: ignore[call-arg]
        Extensions(),
    )
    await store.create("doc", "Doc", "")
    return registry, await registry.acquire("doc")


class DiskFull(Exception):
    """What a failing append raises."""


@dataclass
class UnluckyStore(MemoryStore):
    """A memory store whose appends sometimes fail, or find that another process has just
    committed (a revision it writes itself), after a pause that lets batches form."""

    rng: random.Random = field(default_factory=random.Random)
    fail_rate: float = 0.0
    race_rate: float = 0.0
    appended: list[list[int]] = field(default_factory=list)  # batch sizes that landed
    foreign: int = 0

    def __post_init__(self) -> None:
        super().__init__(snapshot_every=5)

    async def append(self, doc_id: str, batch: Sequence[Commit]) -> AppendResult:
        await asyncio.sleep(self.rng.choice([0, 0, 0.001, 0.002]))
        if self.rng.random() < self.fail_rate:
            raise DiskFull("no space left on device")
        if self.rng.random() < self.race_rate:
            await self._commit_as_another_process(doc_id)
        result = await super().append(doc_id, batch)
        if result is AppendResult.APPENDED:
            self.appended.append([c.revision.rev for c in batch])
        return result

    async def _commit_as_another_process(self, doc_id: str) -> None:
        loaded = await self.load(doc_id, history=0)
        other = Sequencer(loaded.text, loaded.info.head_rev)
        self.foreign += 1
        text = loaded.text
        op = ops.replace(len(text), 0, "", f"<F{self.foreign}>")
        edit = Edit(other.rev, OpId("other-process", self.foreign), patches.patch_text(text, op))
        outcome = other.propose(edit, "other")
        await super().append(doc_id, [Commit(outcome.revision, outcome.op, outcome.text)])


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def close(self, code: int, reason: str) -> None:
        pass


@dataclass
class Attempt:
    op_id: OpId
    answer: Revision | BaseException | None = None
    placement: Placement | None = None


async def scenario(seed: int, authors: int, edits: int, fail: float, race: float) -> None:
    rng = random.Random(seed)
    store = UnluckyStore(rng=random.Random(seed + 1), fail_rate=fail, race_rate=race)
    registry, room = await open_room(store, history_limit=10_000)
    watcher = Recorder()
    member = Member(Person("s", "watcher", "W", "#000000"), watcher, 100_000, TokenBucket(1, 1))
    member.start()
    await room.join(member, 0, full=True, welcome={"type": "joined"})
    attempts: list[Attempt] = []

    async def author(index: int) -> None:
        client = f"c{index}"
        seq = 0
        previous: Edit | None = None
        for _ in range(edits):
            await asyncio.sleep(rng.choice([0, 0, 0, 0.001]))
            if previous is not None and rng.random() < 0.2:
                edit = previous  # sent again as it was, as after a lost acknowledgement
                op_id = edit.op_id
            else:
                seq += 1
                op_id = OpId(client, seq)
                base = await room.snapshot()
                position = rng.randint(0, len(base.text))
                # Tokens never split each other: insert only at token boundaries.
                ends = [0, len(base.text)] + [i + 1 for i, c in enumerate(base.text) if c == ">"]
                position = rng.choice(ends)
                op = ops.replace(len(base.text), position, "", f"<{client}.{seq}>")
                edit = Edit(base.rev, op_id, patches.patch_text(base.text, op))
                previous = edit
            attempt = Attempt(op_id)
            attempts.append(attempt)
            try:
                outcome = await room.submit(edit, client)
            except (DiskFull, AppError, SyncError) as exc:
                attempt.answer = exc
            else:
                attempt.answer, attempt.placement = outcome.revision, outcome.placement

    await asyncio.gather(*(author(i) for i in range(authors)))
    await asyncio.sleep(0.01)  # let the member's queue drain

    head = (await store.get("doc")).head_rev
    log = await store.revisions_after("doc", 0, head + 1)
    assert [r.rev for r in log] == list(range(1, head + 1))
    by_op = {r.op_id: r for r in log}
    assert len(by_op) == len(log), "an operation landed twice"
    text = await store.text_at("doc", head)

    # The room is the store: nothing speculative was left behind by a failed batch.
    assert (room.sequencer.rev, room.sequencer.text) == (head, text)
    # The member saw exactly the log, in order, no gap, no repeat, nothing uncommitted.
    assert replay(watcher.sent) == (head, text)
    received = [m["rev"] for m in watcher.sent if m["type"] == "revision"]
    assert received == list(range(1, head + 1))

    for attempt in attempts:
        if isinstance(attempt.answer, Revision):
            # Acknowledged means durable, with the very revision acknowledged.
            assert by_op.get(attempt.op_id) == attempt.answer
        else:
            assert isinstance(attempt.answer, BaseException)
    for revision in log:
        if revision.op_id.client != "other-process":
            assert any(a.op_id == revision.op_id for a in attempts)
    # Each author's operations land in the order it made them.
    for index in range(authors):
        mine = [r.op_id.seq for r in log if r.op_id.client == f"c{index}"]
        assert mine == sorted(mine)
    if fail == 0 and race == 0:
        assert all(isinstance(a.answer, Revision) for a in attempts)
    await member.stop()
    await registry.close()


@pytest.mark.timeout(300)
@given(
    seed=st.integers(0, 2**32),
    authors=st.integers(1, 12),
    edits=st.integers(1, 12),
    fail=st.sampled_from([0.0, 0.1, 0.3]),
    race=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_any_interleaving_acknowledges_only_what_is_durable(
    seed: int, authors: int, edits: int, fail: float, race: float
) -> None:
    asyncio.run(scenario(seed, authors, edits, fail, race))


def test_batches_really_form_under_concurrency() -> None:
    store_sizes: list[int] = []

    async def run() -> None:
        store = UnluckyStore(rng=random.Random(3))
        registry, room = await open_room(store)

        async def author(index: int) -> None:
            for seq in range(1, 6):
                base = await room.snapshot()
                op = ops.replace(len(base.text), 0, "", f"<{index}.{seq}>")
                edit = Edit(base.rev, OpId(f"c{index}", seq), patches.patch_text(base.text, op))
                await room.submit(edit, "a")

        await asyncio.gather(*(author(i) for i in range(20)))
        store_sizes.extend(len(b) for b in store.appended)
        assert (await store.get("doc")).head_rev == 100
        await registry.close()

    asyncio.run(run())
    assert sum(store_sizes) == 100
    assert max(store_sizes) > 5, f"no batching: {store_sizes}"
    assert len(store_sizes) < 50


@pytest.mark.timeout(60)  # served in arrival order, the typist would wait forever
def test_a_flooding_client_does_not_starve_a_typist(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small batches, so that a queue served in arrival order would make the typist wait for
    # many of them behind the flood.
    monkeypatch.setattr(commits, "MAX_BATCH", 4)
    waits: list[int] = []

    async def run() -> None:
        store = UnluckyStore(rng=random.Random(5))
        registry, room = await open_room(store, max_waiting_edits=40)
        stop = asyncio.Event()
        refused = 0

        seqs: dict[str, int] = {}

        async def insert(client: str) -> None:
            base = await room.snapshot()
            # Numbered once nothing can come between it and the queue, as a client does.
            seq = seqs[client] = seqs.get(client, 0) + 1
            op = ops.replace(len(base.text), 0, "", f"<{client}.{seq}>")
            edit = Edit(base.rev, OpId(client, seq), patches.patch_text(base.text, op))
            await room.submit(edit, client)

        async def flood() -> None:
            nonlocal refused
            while not stop.is_set():
                try:
                    await insert("flood")
                except AppError:
                    refused += 1  # over its bound: told to slow down
                    await asyncio.sleep(0)

        lanes = [asyncio.create_task(flood()) for _ in range(60)]
        await asyncio.sleep(0.05)
        for _ in range(5):
            batches_before = len(store.appended)
            await insert("typist")
            waits.append(len(store.appended) - batches_before)
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.gather(*lanes)
        assert refused > 0  # the flood hit its bound of waiting edits
        await registry.close()

    asyncio.run(run())
    # The typist's edit is in the batch after the one in flight when it arrived.
    assert max(waits) <= 2, waits


@dataclass
class StallingStore(MemoryStore):
    """A memory store whose appends take ``stall`` seconds (a disk stalling its fsync)."""

    stall: float = 0.0

    def __post_init__(self) -> None:
        super().__init__()

    async def append(self, doc_id: str, batch: Sequence[Commit]) -> AppendResult:
        await asyncio.sleep(self.stall)
        return await super().append(doc_id, batch)


def test_a_slow_commit_is_logged_once_in_a_while(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(commits, "SLOW_COMMIT_SECONDS", 0.05)
    monkeypatch.setattr(commits, "SLOW_COMMIT_LOG_EVERY", 0.5)

    async def run() -> None:
        store = StallingStore()
        registry, room = await open_room(store)
        seq = 0

        async def insert() -> None:
            nonlocal seq
            seq += 1
            base = await room.snapshot()
            op = ops.replace(len(base.text), 0, "", f"<{seq}>")
            edit = Edit(base.rev, OpId("c", seq), patches.patch_text(base.text, op))
            await room.submit(edit, "a")

        await insert()  # fast: nothing said
        store.stall = 0.08
        for _ in range(3):  # slow, within one reporting period: one line
            await insert()
        await asyncio.sleep(0.5)
        await insert()  # slow, in the next period: a line counting the two unreported
        await registry.close()

    with caplog.at_level("WARNING", logger="app.core.commits"):
        asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("committing 1 revision(s) of doc took ")
    assert "waited" in lines[0] and "more since" not in lines[0]
    assert lines[1].endswith("(2 more since the last report)")


class GatedStore(MemoryStore):
    """A memory store whose appends wait for ``gate`` while it is shut."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None

    async def append(self, doc_id: str, batch: Sequence[Commit]) -> AppendResult:
        if self.gate is not None:
            await self.gate.wait()
        return await super().append(doc_id, batch)


def test_committed_revisions_are_read_during_a_commit_and_the_batch_in_flight_is_not() -> None:
    """The publisher and forwarded edits' answers read committed revisions while the next
    batch's commit holds the room's lock through its database write: they get what is
    durable at once, and never the batch in flight."""

    async def run() -> None:
        store = GatedStore()
        registry, room = await open_room(store)

        def insert(seq: int) -> Edit:
            text = room.sequencer.text
            op = ops.replace(len(text), 0, "", f"<{seq}>")
            return Edit(room.sequencer.rev, OpId("c", seq), patches.patch_text(text, op))

        await room.submit(insert(1), "a")
        store.gate = asyncio.Event()  # the next commit's write stalls
        in_flight = asyncio.create_task(room.submit(insert(2), "a"))
        while room.sequencer.rev < 2:  # sequenced in memory, its write not done
            await asyncio.sleep(0.001)
        assert room.lock.locked()
        read = await asyncio.wait_for(room.revisions_after(0, 10), 0.5)
        assert [revision.rev for revision in read] == [1]
        assert await asyncio.wait_for(room.revisions_after(0, 1), 0.5) == read[:1]
        store.gate.set()
        await in_flight
        assert [revision.rev for revision in await room.revisions_after(0, 10)] == [1, 2]
        await registry.close()

    asyncio.run(run())
