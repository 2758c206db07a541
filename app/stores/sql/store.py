"""Durable documents: the revision log, snapshots and metadata, in a SQL database.

Nothing here assumes one process owns a document. A revision is appended with a conditional
update of the document's head (``WHERE head_rev = expected``), so two processes sequencing
the same document cannot both write revision ``n``; the loser re-reads and retries. The
``(doc_id, client, seq)`` unique key makes an operation land at most once.

Opening a document reads its newest snapshot and replays the revisions since, which are
fewer than ``snapshot_every``: the cost does not grow with the length of the history.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, event, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.errors import DocumentExists, DocumentNotFound, RevisionNotFound
from app.core.store import (
    AppendResult,
    Commit,
    DocumentInfo,
    LoadedDocument,
    SortOrder,
    StoredRevision,
    change_size,
    now,
)
from app.stores.replay import replay
from app.stores.sql import postgres_append
from app.stores.sql.models import DocumentRow, RevisionRow, SnapshotRow
from app.stores.sql.rows import intent_column, intent_of
from app.stores.sql.sqlite_writer import SqliteWriter
from app.stores.sql.utc import aware
from sync.protocol import OpId, Revision
from sync.text import checksum


def _info(row: DocumentRow) -> DocumentInfo:
    return DocumentInfo(
        row.id,
        row.title,
        aware(row.created_at),
        aware(row.updated_at),
        row.head_rev,
        row.length,
        row.checksum,
    )


# SQLite's lower() and LIKE fold the case of ASCII letters only ("É" never matches "é"), so on
# SQLite titles are searched with Python's str.casefold, as the memory store does.
_CASEFOLD = "collab_casefold"  # func.collab_casefold in queries


def _add_casefold(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # On checkout rather than on connect: the engine may hold connections opened before the
    # store was made (the migrations run first).
    if not record.info.get(_CASEFOLD):
        dbapi_connection.create_function(_CASEFOLD, 1, _casefold, deterministic=True)
        record.info[_CASEFOLD] = True


def _casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def _stored(row: RevisionRow) -> StoredRevision:
    return StoredRevision(
        Revision(
            row.rev,
            row.base,
            row.author,
            OpId(row.client, row.seq),
            row.patch,
            row.checksum,
            intent_of(row.intent),
        ),
        aware(row.created_at),
        row.inserted,
        row.deleted,
    )


class SqlStore:
    """``DocumentStore`` on SQLAlchemy: SQLite (WAL) or PostgreSQL."""

    def __init__(
        self, engine: AsyncEngine, *, snapshot_every: int = 100, sqlite_synchronous: str = "full"
    ) -> None:
        self.engine = engine
        self.snapshot_every = snapshot_every
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._sqlite = engine.dialect.name == "sqlite"
        # On PostgreSQL with asyncpg, appends skip SQLAlchemy (app/stores/sql/postgres_append.py).
        self._postgres = engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"
        self._writer: SqliteWriter | None = None
        if self._sqlite:
            if not event.contains(engine.sync_engine, "checkout", _add_casefold):
                event.listen(engine.sync_engine, "checkout", _add_casefold)
            path = engine.url.database
            if path and path != ":memory:":
                self._writer = SqliteWriter(
                    path, synchronous=sqlite_synchronous, snapshot_every=snapshot_every
                )

    def session(self) -> AsyncSession:
        return self._sessions()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.session() as session:
            await session.execute(select(1))

    # -- documents ----------------------------------------------------------------------

    async def create(self, doc_id: str, title: str, text: str) -> DocumentInfo:
        stamp = now()
        row = DocumentRow(
            id=doc_id,
            title=title,
            created_at=stamp,
            updated_at=stamp,
            head_rev=0,
            length=len(text),
            checksum=checksum(text),
        )
        async with self.session() as session:
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise DocumentExists(f"document '{doc_id}' already exists") from exc
            session.add(SnapshotRow(doc_id=doc_id, rev=0, text=text))
            await session.commit()
        return _info(row)

    async def get(self, doc_id: str) -> DocumentInfo:
        async with self.session() as session:
            row = await session.get(DocumentRow, doc_id)
            if row is None:
                raise DocumentNotFound(f"document '{doc_id}' not found")
            return _info(row)

    async def list_documents(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        query: str | None = None,
        sort: SortOrder = SortOrder.UPDATED_DESC,
        only: Collection[str] | None = None,
    ) -> tuple[list[DocumentInfo], int]:
        condition: ColumnElement[bool] | None = None
        if query and self._sqlite:
            needle = query.casefold()
            condition = or_(
                func.instr(func.collab_casefold(DocumentRow.title), needle) > 0,
                func.instr(func.collab_casefold(DocumentRow.id), needle) > 0,
            )
        elif query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            condition = or_(
                DocumentRow.title.ilike(pattern, escape="\\"),
                DocumentRow.id.ilike(pattern, escape="\\"),
            )
        orders: dict[SortOrder, Any] = {
            SortOrder.UPDATED_DESC: DocumentRow.updated_at.desc(),
            SortOrder.UPDATED_ASC: DocumentRow.updated_at.asc(),
            SortOrder.TITLE_ASC: DocumentRow.title.asc(),
            SortOrder.TITLE_DESC: DocumentRow.title.desc(),
            SortOrder.CREATED_DESC: DocumentRow.created_at.desc(),
            SortOrder.CREATED_ASC: DocumentRow.created_at.asc(),
        }
        if only is not None:
            within = DocumentRow.id.in_(list(only))
            condition = within if condition is None else and_(condition, within)
        order = orders[sort]
        statement = select(DocumentRow).order_by(order, DocumentRow.id).offset(offset).limit(limit)
        count = select(func.count()).select_from(DocumentRow)
        if condition is not None:
            statement = statement.where(condition)
            count = count.where(condition)
        async with self.session() as session:
            rows = (await session.scalars(statement)).all()
            total = (await session.execute(count)).scalar_one()
        return [_info(r) for r in rows], total

    async def rename(self, doc_id: str, title: str) -> DocumentInfo:
        async with self.session() as session:
            row = await session.get(DocumentRow, doc_id)
            if row is None:
                raise DocumentNotFound(f"document '{doc_id}' not found")
            row.title = title
            row.updated_at = now()
            await session.commit()
            return _info(row)

    async def delete(self, doc_id: str) -> None:
        async with self.session() as session:
            # Children first: not every database enforces ON DELETE CASCADE.
            await session.execute(delete(SnapshotRow).where(SnapshotRow.doc_id == doc_id))
            await session.execute(delete(RevisionRow).where(RevisionRow.doc_id == doc_id))
            result = await session.execute(delete(DocumentRow).where(DocumentRow.id == doc_id))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise DocumentNotFound(f"document '{doc_id}' not found")
            await session.commit()

    # -- text and history ---------------------------------------------------------------

    async def load(self, doc_id: str, *, history: int) -> LoadedDocument:
        """The head text (latest snapshot plus the revisions since) and recent history."""
        async with self.session() as session:
            row = await session.get(DocumentRow, doc_id)
            if row is None:
                raise DocumentNotFound(f"document '{doc_id}' not found")
            info = _info(row)
            text, at = await self._snapshot_at_or_before(session, doc_id, info.head_rev)
            # One read serves both the replay (after the snapshot) and the recent history.
            after = max(0, min(at, info.head_rev - history))
            revisions = await self._revisions(session, doc_id, after, info.head_rev)
        text = replay(text, [r for r in revisions if r.rev > at])
        recent = revisions[-history:] if history else []
        seqs: dict[str, tuple[int, int]] = {}
        for revision in recent:
            seqs[revision.op_id.client] = (revision.op_id.seq, revision.rev)
        return LoadedDocument(info, text, recent, seqs)

    async def text_at(self, doc_id: str, rev: int) -> str:
        async with self.session() as session:
            row = await session.get(DocumentRow, doc_id)
            if row is None:
                raise DocumentNotFound(f"document '{doc_id}' not found")
            if not 0 <= rev <= row.head_rev:
                raise RevisionNotFound(
                    f"document '{doc_id}' has revisions 0 to {row.head_rev}, not {rev}"
                )
            text, at = await self._snapshot_at_or_before(session, doc_id, rev)
            revisions = await self._revisions(session, doc_id, at, rev)
        return replay(text, revisions)

    async def revisions_after(self, doc_id: str, after: int, limit: int) -> list[Revision]:
        async with self.session() as session:
            statement = (
                select(RevisionRow)
                .where(RevisionRow.doc_id == doc_id, RevisionRow.rev > after)
                .order_by(RevisionRow.rev)
                .limit(limit)
            )
            return [_stored(r).revision for r in (await session.scalars(statement)).all()]

    async def history(
        self, doc_id: str, *, offset: int, limit: int, newest_first: bool = True
    ) -> tuple[list[StoredRevision], int]:
        """A page of the revision log, and the number of revisions (the head revision)."""
        order = RevisionRow.rev.desc() if newest_first else RevisionRow.rev.asc()
        statement = (
            select(RevisionRow)
            .where(RevisionRow.doc_id == doc_id)
            .order_by(order)
            .offset(offset)
            .limit(limit)
        )
        async with self.session() as session:
            row = await session.get(DocumentRow, doc_id)
            if row is None:
                raise DocumentNotFound(f"document '{doc_id}' not found")
            rows = (await session.scalars(statement)).all()
            return [_stored(r) for r in rows], row.head_rev

    async def revision(self, doc_id: str, rev: int) -> StoredRevision:
        async with self.session() as session:
            row = await session.get(RevisionRow, (doc_id, rev))
            if row is None:
                if await session.get(DocumentRow, doc_id) is None:
                    raise DocumentNotFound(f"document '{doc_id}' not found")
                raise RevisionNotFound(f"document '{doc_id}' has no revision {rev}")
            return _stored(row)

    async def last_seq(self, doc_id: str, client: str) -> int:
        async with self.session() as session:
            statement = select(func.max(RevisionRow.seq)).where(
                RevisionRow.doc_id == doc_id, RevisionRow.client == client
            )
            return (await session.execute(statement)).scalar_one() or 0

    async def find_operation(self, doc_id: str, op_id: OpId) -> Revision | None:
        async with self.session() as session:
            statement = select(RevisionRow).where(
                RevisionRow.doc_id == doc_id,
                RevisionRow.client == op_id.client,
                RevisionRow.seq == op_id.seq,
            )
            row = (await session.scalars(statement)).first()
            return None if row is None else _stored(row).revision

    async def append(self, doc_id: str, batch: Sequence[Commit]) -> AppendResult:
        """Commit ``batch`` if the head is still the revision before its first: all or none."""
        if not batch:
            return AppendResult.APPENDED
        stamp = now()
        if self._writer is not None:
            return await self._writer.append(doc_id, batch, stamp)
        if self._postgres:
            result = await postgres_append.append(
                self.engine, doc_id, batch, stamp, self.snapshot_every
            )
            if result is AppendResult.HEAD_MOVED:
                await self.get(doc_id)  # raises DocumentNotFound if it was deleted meanwhile
            return result
        first, last = batch[0].revision, batch[-1].revision
        rows: list[dict[str, Any]] = []
        snapshots: list[dict[str, Any]] = []
        for commit in batch:
            revision = commit.revision
            inserted, deleted = change_size(commit.op)
            rows.append(
                {
                    "doc_id": doc_id,
                    "rev": revision.rev,
                    "base": revision.base,
                    "author": revision.author,
                    "client": revision.op_id.client,
                    "seq": revision.op_id.seq,
                    "patch": revision.patch,
                    "checksum": revision.checksum,
                    "created_at": stamp,
                    "inserted": inserted,
                    "deleted": deleted,
                    "intent": intent_column(revision),
                }
            )
            if revision.rev % self.snapshot_every == 0:
                snapshots.append({"doc_id": doc_id, "rev": revision.rev, "text": commit.text_after})
        async with self.session() as session:
            moved = await session.execute(
                update(DocumentRow)
                .where(DocumentRow.id == doc_id, DocumentRow.head_rev == first.rev - 1)
                .values(
                    head_rev=last.rev,
                    updated_at=stamp,
                    length=len(batch[-1].text_after),
                    checksum=last.checksum,
                )
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                await self.get(doc_id)  # raises DocumentNotFound if it was deleted meanwhile
                return AppendResult.HEAD_MOVED
            try:
                await session.execute(insert(RevisionRow), rows)
                if snapshots:
                    await session.execute(insert(SnapshotRow), snapshots)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return AppendResult.DUPLICATE
        return AppendResult.APPENDED

    # -- helpers ------------------------------------------------------------------------

    async def _snapshot_at_or_before(
        self, session: AsyncSession, doc_id: str, rev: int
    ) -> tuple[str, int]:
        statement = (
            select(SnapshotRow)
            .where(SnapshotRow.doc_id == doc_id, SnapshotRow.rev <= rev)
            .order_by(SnapshotRow.rev.desc())
            .limit(1)
        )
        row = (await session.scalars(statement)).first()
        if row is None:
            raise RevisionNotFound(f"document '{doc_id}' has no snapshot at or before {rev}")
        return row.text, row.rev

    async def _revisions(
        self, session: AsyncSession, doc_id: str, after: int, until: int
    ) -> list[Revision]:
        statement = (
            select(RevisionRow)
            .where(RevisionRow.doc_id == doc_id, RevisionRow.rev > after, RevisionRow.rev <= until)
            .order_by(RevisionRow.rev)
        )
        return [_stored(r).revision for r in (await session.scalars(statement)).all()]
