"""The rows an append writes, for the paths that write them without SQLAlchemy (the SQLite
writer thread, PostgreSQL through asyncpg): one place that knows the column order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.store import Commit, change_size
from sync.intent import Intent
from sync.protocol import Revision

# The column order of ``revision_rows``' tuples, for the INSERT statements that take them.
REVISION_COLUMNS = (
    "doc_id, rev, base, author, client, seq, patch, checksum, created_at, inserted, deleted, intent"
)


def intent_column(revision: Revision) -> str | None:
    """What the ``intent`` column holds for ``revision``: NULL for "none"."""
    return None if revision.intent is Intent.NONE else revision.intent.value


def intent_of(value: str | None) -> Intent:
    """The intent an ``intent`` column holds (NULL, in rows stored before intents: none)."""
    return Intent.NONE if value is None else Intent(value)


def revision_rows(
    doc_id: str, batch: Sequence[Commit], created_at: Any, snapshot_every: int
) -> tuple[list[tuple[Any, ...]], list[tuple[str, int, str]]]:
    """The ``revisions`` rows of ``batch`` (in ``REVISION_COLUMNS`` order) and the
    ``snapshots`` rows (doc_id, rev, text) due at its revisions. ``created_at`` is stored as
    given: a datetime for asyncpg, text for sqlite3."""
    rows: list[tuple[Any, ...]] = []
    snapshots: list[tuple[str, int, str]] = []
    for commit in batch:
        revision = commit.revision
        inserted, deleted = change_size(commit.op)
        rows.append(
            (
                doc_id,
                revision.rev,
                revision.base,
                revision.author,
                revision.op_id.client,
                revision.op_id.seq,
                revision.patch,
                revision.checksum,
                created_at,
                inserted,
                deleted,
                intent_column(revision),
            )
        )
        if revision.rev % snapshot_every == 0:
            snapshots.append((doc_id, revision.rev, commit.text_after))
    return rows, snapshots
