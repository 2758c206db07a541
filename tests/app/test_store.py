"""The SQL store: documents, the revision log, snapshots, and several writers on one file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from app.config import Settings
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.errors import DocumentExists, DocumentNotFound, RevisionNotFound
from app.metrics import Metrics
from app.rooms import RoomRegistry
from app.store import AppendResult, SortOrder, Store
from sync import patches
from sync.merge import changes_between
from sync.ops import Op
from sync.protocol import Edit, OpId, Revision
from sync.server import Placement, Sequencer

pytestmark = pytest.mark.anyio

SNAPSHOT_EVERY = 50


class CountingStore(Store):
    """Counts the revisions replayed onto a snapshot and the revision rows read."""

    replayed = 0
    rows_read = 0
    heads_moved = 0

    def _replay(self, text: str, revisions: Sequence[Revision]) -> str:
        self.replayed += len(revisions)
        return super()._replay(text, revisions)

    async def _revisions(self, session, doc_id: str, after: int, until: int) -> list[Revision]:  # type: ignore[no-untyped-def]
        revisions = await super()._revisions(session, doc_id, after, until)
        self.rows_read += len(revisions)
        return revisions

    async def append(
        self, doc_id: str, revision: Revision, op: Op, text_after: str
    ) -> AppendResult:
        result = await super().append(doc_id, revision, op, text_after)
        self.heads_moved += result is AppendResult.HEAD_MOVED
        return result


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        sqlite_synchronous="normal",
        snapshot_every=SNAPSHOT_EVERY,
        idle_unload_seconds=0,
        history_limit=20,
    )


async def open_store(settings: Settings) -> CountingStore:
    engine = make_engine(settings)
    await upgrade(engine)
    return CountingStore(engine, snapshot_every=settings.snapshot_every)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[CountingStore]:
    store = await open_store(settings)
    yield store
    await store.engine.dispose()


def edit_to(sequencer: Sequencer, new_text: str, client: str, seq: int) -> Edit:
    op = changes_between(sequencer.text, new_text)
    return Edit(sequencer.rev, OpId(client, seq), patches.patch_text(sequencer.text, op))


async def commit(store: Store, sequencer: Sequencer, new_text: str, client: str, seq: int) -> None:
    outcome = sequencer.propose(edit_to(sequencer, new_text, client, seq), "tester")
    result = await store.append("d", outcome.revision, outcome.op, outcome.text)
    assert result is AppendResult.APPENDED
    sequencer.accept(outcome)


def text_at(rev: int) -> str:
    """The text of document 'd' at ``rev`` in the long-history tests."""
    return "".join(f"<{i}>" for i in range(1, rev + 1)) + "\n" + "x" * (rev % 7)


# -- documents ------------------------------------------------------------------------------


async def test_create_get_rename_delete(store: Store) -> None:
    info = await store.create("d", "Title", "text")
    assert (info.id, info.title, info.head_rev, info.length) == ("d", "Title", 0, 4)
    assert info.created_at.tzinfo is not None
    assert await store.get("d") == info
    with pytest.raises(DocumentExists, match="'d' already exists"):
        await store.create("d", "Again", "")
    renamed = await store.rename("d", "New")
    assert renamed.title == "New"
    assert renamed.updated_at >= info.updated_at
    await store.delete("d")
    for call in (store.get("d"), store.rename("d", "x"), store.delete("d"), store.text_at("d", 0)):
        with pytest.raises(DocumentNotFound, match="document 'd' not found"):
            await call
    with pytest.raises(DocumentNotFound):
        await store.load("d", history=10)
    with pytest.raises(DocumentNotFound):
        await store.history("d", offset=0, limit=10)


async def test_list_counts_and_pages(store: Store) -> None:
    for i in range(5):
        await store.create(f"d{i}", f"T{4 - i}", "")
    items, total = await store.list_documents(offset=1, limit=2, sort=SortOrder.TITLE_ASC)
    assert total == 5
    assert [i.title for i in items] == ["T1", "T2"]
    items, total = await store.list_documents(query="t3")
    assert (total, [i.id for i in items]) == (1, ["d1"])


# -- the revision log -----------------------------------------------------------------------


async def test_a_long_history_opens_from_a_snapshot(store: CountingStore) -> None:
    await store.create("d", "Long", text_at(0))
    sequencer = Sequencer(text_at(0))
    head = 3 * SNAPSHOT_EVERY + 37
    for rev in range(1, head + 1):
        await commit(store, sequencer, text_at(rev), "writer", rev)
    assert (await store.get("d")).head_rev == head

    store.replayed = store.rows_read = 0
    loaded = await store.load("d", history=10)
    assert loaded.text == text_at(head)
    assert loaded.info.head_rev == head
    assert store.replayed == 37  # only what follows the newest snapshot (rev 150)
    assert store.replayed < SNAPSHOT_EVERY
    assert store.rows_read == 37
    assert [r.rev for r in loaded.history] == list(range(head - 9, head + 1))
    assert loaded.client_seqs == {"writer": (head, head)}

    # Asking for more history reads more rows, but replays no more.
    store.replayed = store.rows_read = 0
    loaded = await store.load("d", history=100)
    assert store.replayed == 37
    assert store.rows_read == 100
    assert [r.rev for r in loaded.history] == list(range(head - 99, head + 1))
    # The loaded history is enough to rebuild a sequencer that accepts the next edit.
    rebuilt = Sequencer(loaded.text, head, history=loaded.history, client_seqs=loaded.client_seqs)
    await commit(store, rebuilt, text_at(head + 1), "writer", head + 1)

    for rev in (0, 1, SNAPSHOT_EVERY - 1, SNAPSHOT_EVERY, 2 * SNAPSHOT_EVERY + 1, head):
        store.replayed = 0
        assert await store.text_at("d", rev) == text_at(rev)
        assert store.replayed < SNAPSHOT_EVERY
    with pytest.raises(RevisionNotFound, match="revisions 0 to 188, not 189"):
        await store.text_at("d", head + 2)


async def test_a_short_history_replays_from_the_creation_snapshot(store: CountingStore) -> None:
    await store.create("d", "Short", text_at(0))
    sequencer = Sequencer(text_at(0))
    for rev in range(1, 4):
        await commit(store, sequencer, text_at(rev), "w", rev)
    store.replayed = 0
    loaded = await store.load("d", history=100)
    assert loaded.text == text_at(3)
    assert store.replayed == 3
    assert [r.rev for r in loaded.history] == [1, 2, 3]


async def test_history_pages_and_single_revisions(store: Store) -> None:
    await store.create("d", "H", "")
    sequencer = Sequencer("")
    for rev in range(1, 6):
        await commit(store, sequencer, "ab" * rev, "w", rev)
    page, total = await store.history("d", offset=1, limit=2)
    assert total == 5
    assert [s.revision.rev for s in page] == [4, 3]
    page, _ = await store.history("d", offset=0, limit=2, newest_first=False)
    assert [(s.revision.rev, s.inserted, s.deleted) for s in page] == [(1, 2, 0), (2, 2, 0)]
    stored = await store.revision("d", 3)
    assert stored.revision.op_id == OpId("w", 3)
    with pytest.raises(RevisionNotFound, match="no revision 6"):
        await store.revision("d", 6)
    with pytest.raises(DocumentNotFound):
        await store.revision("nope", 1)
    assert await store.last_seq("d", "w") == 5
    assert await store.last_seq("d", "someone") == 0
    assert await store.find_operation("d", OpId("w", 2)) == (await store.revision("d", 2)).revision
    assert await store.find_operation("d", OpId("w", 9)) is None
    assert [r.rev for r in await store.revisions_after("d", 2, limit=2)] == [3, 4]


async def test_append_when_another_writer_got_there_first(store: Store) -> None:
    await store.create("d", "Race", "base")
    one = Sequencer("base")
    other = Sequencer("base")
    first = one.propose(edit_to(one, "base one", "a", 1), "a")
    second = other.propose(edit_to(other, "other base", "b", 1), "b")
    assert first.revision.rev == second.revision.rev == 1

    assert await store.append("d", first.revision, first.op, first.text) is AppendResult.APPENDED
    assert (
        await store.append("d", second.revision, second.op, second.text) is AppendResult.HEAD_MOVED
    )
    # The loser changed nothing.
    info = await store.get("d")
    assert (info.head_rev, info.checksum) == (1, first.revision.checksum)
    assert await store.text_at("d", 1) == "base one"
    assert [r.op_id for r in await store.revisions_after("d", 0, 10)] == [OpId("a", 1)]


async def test_append_of_an_operation_already_in_the_log(store: Store) -> None:
    await store.create("d", "Dup", "")
    sequencer = Sequencer("")
    await commit(store, sequencer, "x", "a", 1)
    # A second sequencer that never saw it numbers the same operation as revision 2.
    stale = Sequencer("x", 1)
    again = stale.propose(
        Edit(1, OpId("a", 1), patches.patch_text("x", changes_between("x", "xy"))), "a"
    )
    assert again.revision.rev == 2
    assert await store.append("d", again.revision, again.op, again.text) is AppendResult.DUPLICATE
    info = await store.get("d")
    assert (info.head_rev, info.length) == (1, 1)  # the head's update was rolled back too
    assert [r.rev for r in await store.revisions_after("d", 0, 10)] == [1]


async def test_append_to_a_deleted_document(store: Store) -> None:
    await store.create("d", "Gone", "")
    sequencer = Sequencer("")
    outcome = sequencer.propose(edit_to(sequencer, "x", "a", 1), "a")
    await store.delete("d")
    with pytest.raises(DocumentNotFound):
        await store.append("d", outcome.revision, outcome.op, outcome.text)


# -- two processes on one database ----------------------------------------------------------


async def test_two_stores_on_one_file_sequence_one_document(settings: Settings) -> None:
    """Two Store/RoomRegistry pairs (as two processes would have) edit the same document at
    once: every edit lands exactly once, revisions stay contiguous and both copies agree."""
    edits_each = 25
    # Enough history to rebase any edit the other process overtook (the default is 500).
    settings.history_limit = 4 * edits_each
    stores = [await open_store(settings), await open_store(settings)]
    try:
        await stores[0].create("d", "Shared", "")
        registries = [RoomRegistry(s, settings, Metrics()) for s in stores]
        rooms = [await r.acquire("d") for r in registries]

        async def writer(index: int) -> None:
            room = rooms[index]
            client = "ab"[index]
            for seq in range(1, edits_each + 1):
                sequencer = room.sequencer
                marker = f"[{client}{seq}]"
                # Append at the end of this process's current copy: other edits may land first.
                edit = edit_to(sequencer, sequencer.text + marker, client, seq)
                outcome = await room.submit(edit, client)
                assert outcome.placement is not Placement.DUPLICATE
                await asyncio.sleep(0)

        await asyncio.gather(writer(0), writer(1))
        for room in rooms:
            await room.refresh()

        head = 2 * edits_each
        # The writers did race: some commits found the head moved, re-read and rebased.
        assert stores[0].heads_moved + stores[1].heads_moved > 0
        assert rooms[0].sequencer.rev == rooms[1].sequencer.rev == head
        assert rooms[0].sequencer.text == rooms[1].sequencer.text
        text = rooms[0].sequencer.text
        for client in "ab":
            for seq in range(1, edits_each + 1):
                assert text.count(f"[{client}{seq}]") == 1
        # Each writer's own edits keep their order.
        for client in "ab":
            positions = [text.index(f"[{client}{seq}]") for seq in range(1, edits_each + 1)]
            assert positions == sorted(positions)

        log = await stores[1].revisions_after("d", 0, 1000)
        assert [r.rev for r in log] == list(range(1, head + 1))
        assert len({r.op_id for r in log}) == head
        assert (await stores[1].load("d", history=5)).text == text
        assert await stores[0].text_at("d", head) == text

        # A retry that reaches the other process is acknowledged, not applied twice.
        retry = Edit(0, OpId("b", 1), "@@ -0,0 +1,4 @@\n+%5Bb1%5D\n")
        outcome = await rooms[0].submit(retry, "b")
        assert outcome.placement is Placement.DUPLICATE
        assert outcome.revision.op_id == OpId("b", 1)
        assert (await stores[0].get("d")).head_rev == head

        for registry, room in zip(registries, rooms, strict=True):
            await registry.release(room)
            await registry.close()
    finally:
        for store in stores:
            await store.engine.dispose()
