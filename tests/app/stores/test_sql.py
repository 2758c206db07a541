"""The SQL store beyond the contract: reading from snapshots, migrations, SQLite's settings,
and several writers on one database.

Every test runs on SQLite and on PostgreSQL (``sql_backend``, see ``conftest.py``); what all
stores promise is in ``test_contract.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import DocumentExists, DocumentNotFound, RevisionNotFound
from app.core.store import AppendResult, Commit, SortOrder
from app.stores.sql.engine import make_engine
from app.stores.sql.migrate import MIGRATIONS, alembic_config, upgrade
from app.stores.sql.models import Base
from app.stores.sql.store import SqlStore
from sync import errors as sync_errors
from sync import patches
from sync.merge import changes_between
from sync.protocol import Edit, OpId, Revision
from sync.server import Outcome, Placement, Sequencer
from tests.app.stores.support import Backend, sql_row_counts, sql_settings

pytestmark = pytest.mark.anyio

SNAPSHOT_EVERY = 50


class CountingStore(SqlStore):
    """Counts the revision rows read and the appends that found the head moved."""

    rows_read = 0
    heads_moved = 0

    async def _revisions(
        self, session: AsyncSession, doc_id: str, after: int, until: int
    ) -> list[Revision]:
        revisions = await super()._revisions(session, doc_id, after, until)
        self.rows_read += len(revisions)
        return revisions

    async def append(self, doc_id: str, batch: Any) -> AppendResult:
        result = await super().append(doc_id, batch)
        self.heads_moved += result is AppendResult.HEAD_MOVED
        return result


async def open_store(backend: Backend) -> CountingStore:
    engine = make_engine(backend.settings)
    await upgrade(engine)
    return CountingStore(engine, snapshot_every=SNAPSHOT_EVERY)


@pytest.fixture
async def store(sql_backend: Backend) -> AsyncIterator[CountingStore]:
    store = await open_store(sql_backend)
    yield store
    await store.close()


def edit_to(sequencer: Sequencer, new_text: str, client: str, seq: int) -> Edit:
    op = changes_between(sequencer.text, new_text)
    return Edit(sequencer.rev, OpId(client, seq), patches.patch_text(sequencer.text, op))


def commit_of(outcome: Outcome) -> list[Commit]:
    return [Commit(outcome.revision, outcome.op, outcome.text)]


async def commit(
    store: SqlStore, sequencer: Sequencer, new_text: str, client: str, seq: int
) -> None:
    outcome = sequencer.propose(edit_to(sequencer, new_text, client, seq), "tester")
    result = await store.append("d", commit_of(outcome))
    assert result is AppendResult.APPENDED
    sequencer.accept(outcome)


def text_at(rev: int) -> str:
    """The text of document 'd' at ``rev`` in the long-history tests."""
    return "".join(f"<{i}>" for i in range(1, rev + 1)) + "\n" + "x" * (rev % 7)


# -- documents ------------------------------------------------------------------------------


async def test_create_get_rename_delete(store: SqlStore) -> None:
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


async def test_list_counts_and_pages(store: SqlStore) -> None:
    for i in range(5):
        await store.create(f"d{i}", f"T{4 - i}", "")
    items, total = await store.list_documents(offset=1, limit=2, sort=SortOrder.TITLE_ASC)
    assert total == 5
    assert [i.title for i in items] == ["T1", "T2"]
    items, total = await store.list_documents(query="t3")
    assert (total, [i.id for i in items]) == (1, ["d1"])


# -- the revision log -----------------------------------------------------------------------


async def test_a_long_history_opens_from_a_snapshot(
    store: CountingStore, replays: list[int]
) -> None:
    await store.create("d", "Long", text_at(0))
    sequencer = Sequencer(text_at(0))
    head = 3 * SNAPSHOT_EVERY + 37
    for rev in range(1, head + 1):
        await commit(store, sequencer, text_at(rev), "writer", rev)
    assert (await store.get("d")).head_rev == head
    async with store.session() as session:
        rows = await session.execute(text("SELECT rev FROM snapshots WHERE doc_id = 'd'"))
        assert sorted(rows.scalars()) == [0, 50, 100, 150]

    replays.clear()
    store.rows_read = 0
    loaded = await store.load("d", history=10)
    assert loaded.text == text_at(head)
    assert loaded.info.head_rev == head
    assert replays == [37]  # only what follows the newest snapshot (rev 150)
    assert store.rows_read == 37
    assert [r.rev for r in loaded.history] == list(range(head - 9, head + 1))
    assert loaded.client_seqs == {"writer": (head, head)}

    # Asking for more history reads more rows, but replays no more.
    replays.clear()
    store.rows_read = 0
    loaded = await store.load("d", history=100)
    assert replays == [37]
    assert store.rows_read == 100
    assert [r.rev for r in loaded.history] == list(range(head - 99, head + 1))
    # The loaded history is enough to rebuild a sequencer that accepts the next edit.
    rebuilt = Sequencer(loaded.text, head, history=loaded.history, client_seqs=loaded.client_seqs)
    await commit(store, rebuilt, text_at(head + 1), "writer", head + 1)

    for rev in (0, 1, SNAPSHOT_EVERY - 1, SNAPSHOT_EVERY, 2 * SNAPSHOT_EVERY + 1, head):
        replays.clear()
        assert await store.text_at("d", rev) == text_at(rev)
        assert sum(replays) < SNAPSHOT_EVERY
    with pytest.raises(RevisionNotFound, match="revisions 0 to 188, not 189"):
        await store.text_at("d", head + 2)


async def test_a_short_history_replays_from_the_creation_snapshot(
    store: CountingStore, replays: list[int]
) -> None:
    await store.create("d", "Short", text_at(0))
    sequencer = Sequencer(text_at(0))
    for rev in range(1, 4):
        await commit(store, sequencer, text_at(rev), "w", rev)
    replays.clear()
    loaded = await store.load("d", history=100)
    assert loaded.text == text_at(3)
    assert replays == [3]
    assert [r.rev for r in loaded.history] == [1, 2, 3]


async def test_history_pages_and_single_revisions(store: SqlStore) -> None:
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


async def test_append_when_another_writer_got_there_first(store: SqlStore) -> None:
    await store.create("d", "Race", "base")
    one = Sequencer("base")
    other = Sequencer("base")
    first = one.propose(edit_to(one, "base one", "a", 1), "a")
    second = other.propose(edit_to(other, "other base", "b", 1), "b")
    assert first.revision.rev == second.revision.rev == 1

    assert await store.append("d", commit_of(first)) is AppendResult.APPENDED
    assert await store.append("d", commit_of(second)) is AppendResult.HEAD_MOVED
    # The loser changed nothing.
    info = await store.get("d")
    assert (info.head_rev, info.checksum) == (1, first.revision.checksum)
    assert await store.text_at("d", 1) == "base one"
    assert [r.op_id for r in await store.revisions_after("d", 0, 10)] == [OpId("a", 1)]


async def test_append_of_an_operation_already_in_the_log(store: SqlStore) -> None:
    await store.create("d", "Dup", "")
    sequencer = Sequencer("")
    await commit(store, sequencer, "x", "a", 1)
    # A second sequencer that never saw it numbers the same operation as revision 2.
    stale = Sequencer("x", 1)
    again = stale.propose(
        Edit(1, OpId("a", 1), patches.patch_text("x", changes_between("x", "xy"))), "a"
    )
    assert again.revision.rev == 2
    assert await store.append("d", commit_of(again)) is AppendResult.DUPLICATE
    info = await store.get("d")
    assert (info.head_rev, info.length) == (1, 1)  # the head's update was rolled back too
    assert [r.rev for r in await store.revisions_after("d", 0, 10)] == [1]
    assert await sql_row_counts(store, "d") == (1, 1, 1)


async def test_append_to_a_deleted_document(store: SqlStore) -> None:
    await store.create("d", "Gone", "")
    sequencer = Sequencer("")
    outcome = sequencer.propose(edit_to(sequencer, "x", "a", 1), "a")
    await store.delete("d")
    with pytest.raises(DocumentNotFound):
        await store.append("d", commit_of(outcome))
    assert await sql_row_counts(store, "d") == (0, 0, 0)


# -- the schema -----------------------------------------------------------------------------


async def test_migrations_match_the_models_and_run_once(sql_backend: Backend) -> None:
    store = await open_store(sql_backend)
    try:
        await store.create("d", "Kept", "text")
        await upgrade(store.engine)  # again: a no-op that keeps the data

        def differences(connection: Connection) -> list[Any]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with store.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            # Exactly one row, at the newest migration (one head: no branch in the chain).
            scripts = ScriptDirectory.from_config(alembic_config())
            head = scripts.get_current_head()
            newest = max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("0*.py"))
            assert head == newest
            assert version.scalars().all() == [head]
    finally:
        await store.close()
    # A new engine (a restarted process) finds the document.
    reopened = await open_store(sql_backend)
    try:
        assert (await reopened.get("d")).title == "Kept"
        assert await reopened.text_at("d", 0) == "text"
    finally:
        await reopened.close()


@pytest.mark.parametrize(("synchronous", "expected"), [("normal", 1), ("full", 2)])
async def test_sqlite_connections_get_their_pragmas(
    tmp_path: Path, synchronous: str, expected: int
) -> None:
    settings = sql_settings(tmp_path / "data", sqlite_synchronous=synchronous)
    engine = make_engine(settings)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:

            async def pragma(name: str) -> Any:
                return (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()

            assert await pragma("journal_mode") == "wal"
            assert await pragma("synchronous") == expected
            assert await pragma("foreign_keys") == 1
            assert await pragma("busy_timeout") == 30000
    finally:
        await engine.dispose()
    assert (settings.data_dir / "collab.sqlite3").exists()


# -- two processes on one database ----------------------------------------------------------


class Process:
    """What one server process does with a document, on its own engine: a sequencer loaded
    from the store, and a room's commit loop (propose, append; when another process took the
    head, fold in its revisions and try again; when the operation is already in the log,
    acknowledge that revision)."""

    def __init__(self, store: CountingStore, history_limit: int) -> None:
        self.store = store
        self.history_limit = history_limit
        self.sequencer = Sequencer()

    async def load(self) -> None:
        loaded = await self.store.load("d", history=self.history_limit)
        self.sequencer = Sequencer(
            loaded.text,
            loaded.info.head_rev,
            history=loaded.history,
            client_seqs=loaded.client_seqs,
            history_limit=self.history_limit,
        )

    async def refresh(self) -> None:
        while newer := await self.store.revisions_after("d", self.sequencer.rev, 1000):
            for revision in newer:
                self.sequencer.ingest(revision)

    async def submit(self, edit: Edit, author: str) -> Outcome:
        for _attempt in range(50):
            try:
                outcome = self.sequencer.propose(edit, author)
            except sync_errors.StaleRevision:
                existing = await self.store.find_operation("d", edit.op_id)
                assert existing is not None
                return Outcome(existing, Placement.DUPLICATE)
            if outcome.placement is Placement.DUPLICATE:
                return outcome
            result = await self.store.append("d", commit_of(outcome))
            if result is AppendResult.APPENDED:
                return self.sequencer.accept(outcome)
            if result is AppendResult.DUPLICATE:
                existing = await self.store.find_operation("d", edit.op_id)
                assert existing is not None
                await self.refresh()
                return Outcome(existing, Placement.DUPLICATE)
            await self.refresh()  # another process committed first
        raise AssertionError("too contended")


async def test_two_stores_on_one_database_sequence_one_document(sql_backend: Backend) -> None:
    """Two stores on two engines (as two processes would have) edit the same document at
    once: every edit lands exactly once, revisions stay contiguous and both copies agree."""
    edits_each = 25
    # Enough history to rebase any edit the other process overtook.
    history_limit = 4 * edits_each
    stores = [await open_store(sql_backend), await open_store(sql_backend)]
    try:
        await stores[0].create("d", "Shared", "")
        processes = [Process(s, history_limit) for s in stores]
        for process in processes:
            await process.load()

        async def writer(index: int) -> None:
            process = processes[index]
            client = "ab"[index]
            for seq in range(1, edits_each + 1):
                sequencer = process.sequencer
                marker = f"[{client}{seq}]"
                # Append at the end of this process's current copy: other edits may land first.
                edit = edit_to(sequencer, sequencer.text + marker, client, seq)
                outcome = await process.submit(edit, client)
                assert outcome.placement is not Placement.DUPLICATE
                await asyncio.sleep(0)

        await asyncio.gather(writer(0), writer(1))
        for process in processes:
            await process.refresh()

        head = 2 * edits_each
        # The writers did race: some commits found the head moved, re-read and rebased.
        assert stores[0].heads_moved + stores[1].heads_moved > 0
        sequencers = [p.sequencer for p in processes]
        assert sequencers[0].rev == sequencers[1].rev == head
        assert sequencers[0].text == sequencers[1].text
        text_ = sequencers[0].text
        for client in "ab":
            for seq in range(1, edits_each + 1):
                assert text_.count(f"[{client}{seq}]") == 1
        # Each writer's own edits keep their order.
        for client in "ab":
            positions = [text_.index(f"[{client}{seq}]") for seq in range(1, edits_each + 1)]
            assert positions == sorted(positions)

        log = await stores[1].revisions_after("d", 0, 1000)
        assert [r.rev for r in log] == list(range(1, head + 1))
        assert len({r.op_id for r in log}) == head
        assert (await stores[1].load("d", history=5)).text == text_
        assert await stores[0].text_at("d", head) == text_

        # A retry that reaches the other process is acknowledged, not applied twice.
        retry = Edit(0, OpId("b", 1), "@@ -0,0 +1,4 @@\n+%5Bb1%5D\n")
        outcome = await processes[0].submit(retry, "b")
        assert outcome.placement is Placement.DUPLICATE
        assert outcome.revision.op_id == OpId("b", 1)
        # Also when that process has not heard of it, but the log has it.
        fresh = Process(stores[0], history_limit)
        fresh.sequencer = Sequencer(text_, head, history_limit=history_limit)
        outcome = await fresh.submit(Edit(head, OpId("b", 1), "@@ -0,0 +1,1 @@\n+x\n"), "b")
        assert outcome.placement is Placement.DUPLICATE
        assert outcome.revision == log[[r.op_id for r in log].index(OpId("b", 1))]
        assert (await stores[0].get("d")).head_rev == head
    finally:
        for store in stores:
            await store.close()
