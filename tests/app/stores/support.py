"""Helpers for the store tests: building valid revisions with the engine, a settable clock,
and peeking at what a store keeps (snapshots, replays) to check its promises."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.config import Settings
from app.core.store import AppendResult, Commit, DocumentStore
from app.stores import memory as memory_module
from app.stores.memory import MemoryStore
from app.stores.sql import store as sql_module
from app.stores.sql.engine import make_engine
from app.stores.sql.migrate import upgrade
from app.stores.sql.models import DocumentRow, RevisionRow, SnapshotRow
from app.stores.sql.store import SqlStore
from sync import patches
from sync.merge import changes_between
from sync.protocol import Edit, OpId, Revision
from sync.server import Placement, Sequencer

# Small, so that short tests cross several snapshots and batches straddle them.
SNAPSHOT_EVERY = 3

# Every adapter module that stamps times with ``app.core.store.now``, and replays revisions
# with ``app.stores.replay.replay``; the clock and replays fixtures (conftest.py) patch both
# names in each.
ADAPTER_MODULES = (memory_module, sql_module)


def sql_settings(data_dir: Path, database_url: str = "", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "sqlite_synchronous": "normal",
        "snapshot_every": SNAPSHOT_EVERY,
        "idle_unload_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@dataclass
class Backend:
    """Where a test's stores keep their documents. Every SQL store opened on one backend
    shares its database; every memory store is a world of its own."""

    kind: str  # memory, sqlite, postgresql
    settings: Settings

    async def open(self, *, snapshot_every: int = SNAPSHOT_EVERY) -> DocumentStore:
        if self.kind == "memory":
            return MemoryStore(snapshot_every=snapshot_every)
        return await self.open_sql(snapshot_every=snapshot_every)

    async def open_sql(self, *, snapshot_every: int = SNAPSHOT_EVERY) -> SqlStore:
        assert self.kind != "memory"
        engine = make_engine(self.settings)
        try:
            await upgrade(engine)  # a no-op on PostgreSQL, migrated once per session
        except BaseException:
            await engine.dispose()
            raise
        return SqlStore(engine, snapshot_every=snapshot_every)


def make_commits(
    text: str, rev: int, steps: Sequence[tuple[str, OpId]], author: str = "tester"
) -> list[Commit]:
    """Consecutive commits from ``text`` at ``rev``: one per (new text, operation id), made by
    the sequencer exactly as a room makes them."""
    sequencer = Sequencer(text, rev)
    commits: list[Commit] = []
    for new_text, op_id in steps:
        op = changes_between(sequencer.text, new_text)
        edit = Edit(sequencer.rev, op_id, patches.patch_text(sequencer.text, op))
        outcome = sequencer.submit(edit, author)
        assert outcome.placement is Placement.EXACT
        assert outcome.text == new_text
        commits.append(Commit(outcome.revision, outcome.op, outcome.text))
    return commits


@dataclass
class Doc:
    """A document as a test expects it to be: its text at every revision and its log."""

    id: str
    texts: list[str]  # texts[rev]
    log: list[Revision] = field(default_factory=list)  # log[rev - 1]
    seqs: dict[str, int] = field(default_factory=dict)  # client -> newest seq used

    @classmethod
    async def create(
        cls, store: DocumentStore, doc_id: str, text: str = "", title: str = ""
    ) -> Doc:
        await store.create(doc_id, title or doc_id, text)
        return cls(doc_id, [text])

    @property
    def head(self) -> int:
        return len(self.texts) - 1

    @property
    def text(self) -> str:
        return self.texts[-1]

    def next_op(self, client: str, offset: int = 1) -> OpId:
        return OpId(client, self.seqs.get(client, 0) + offset)

    def commits(
        self, new_texts: Sequence[str], client: str = "w", author: str = "tester"
    ) -> list[Commit]:
        """Commits taking the document through ``new_texts``, not yet appended."""
        steps = [(t, self.next_op(client, i + 1)) for i, t in enumerate(new_texts)]
        return make_commits(self.text, self.head, steps, author)

    def accept(self, batch: Sequence[Commit]) -> None:
        for commit in batch:
            assert commit.revision.rev == self.head + 1
            self.texts.append(commit.text_after)
            self.log.append(commit.revision)
            op_id = commit.revision.op_id
            self.seqs[op_id.client] = max(self.seqs.get(op_id.client, 0), op_id.seq)

    async def append(
        self, store: DocumentStore, new_texts: Sequence[str], client: str = "w"
    ) -> list[Commit]:
        batch = self.commits(new_texts, client)
        assert await store.append(self.id, batch) is AppendResult.APPENDED
        self.accept(batch)
        return batch


class Clock:
    """Stands in for ``now()`` in the adapters: time moves only when a test moves it."""

    def __init__(self) -> None:
        self.time = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.time

    def tick(self, seconds: float = 1) -> datetime:
        self.time += timedelta(seconds=seconds)
        return self.time


async def snapshot_revs(store: DocumentStore, doc_id: str) -> list[int]:
    """The revisions of ``doc_id`` a text snapshot is kept for (empty for no document)."""
    if isinstance(store, MemoryStore):
        document = store._documents.get(doc_id)
        return [] if document is None else sorted(document.snapshots)
    if isinstance(store, SqlStore):
        async with store.session() as session:
            statement = (
                select(SnapshotRow.rev)
                .where(SnapshotRow.doc_id == doc_id)
                .order_by(SnapshotRow.rev)
            )
            return list((await session.scalars(statement)).all())
    raise TypeError(f"no way to see the snapshots of {type(store).__name__}")


async def sql_row_counts(store: SqlStore, doc_id: str) -> tuple[int, int, int]:
    """Rows of ``doc_id`` in documents, revisions and snapshots."""
    async with store.session() as session:
        counts = []
        for table, column in (
            (DocumentRow, DocumentRow.id),
            (RevisionRow, RevisionRow.doc_id),
            (SnapshotRow, SnapshotRow.doc_id),
        ):
            statement = select(func.count()).select_from(table).where(column == doc_id)
            counts.append((await session.execute(statement)).scalar_one())
    return counts[0], counts[1], counts[2]
