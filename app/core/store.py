"""What rooms, the document service and the routes need from storage: ``DocumentStore``.

A store keeps, per document, its metadata, the revision log and periodic text snapshots. The
adapters are ``app/stores/memory.py`` (tests, ``COLLAB_DATABASE_URL=memory://``) and
``app/stores/sql/`` (SQLite and PostgreSQL); one contract suite
(``tests/app/stores/test_contract.py``) runs against every one of them.

The promises every store keeps:

* ``append`` is conditional and atomic: a batch of consecutive revisions lands only if the
  document's head is still the revision before the first, and then all of it lands, or none.
  Two processes sequencing one document can never both write revision ``n``.
* An operation id (``client``, ``seq``) is in a document's log at most once: a batch holding
  one already there (or twice) writes nothing and answers ``DUPLICATE``.
* A snapshot of the text is kept at revision 0 and at every multiple of ``snapshot_every``,
  so ``load`` and ``text_at`` replay fewer than ``snapshot_every`` patches.
* Errors are the domain's: ``DocumentNotFound``, ``RevisionNotFound``, ``DocumentExists``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sync import ops
from sync.ops import Op
from sync.protocol import OpId, Revision


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    head_rev: int
    length: int  # of the text at head_rev, so listings need no text
    checksum: str


@dataclass(frozen=True, slots=True)
class StoredRevision:
    revision: Revision
    created_at: datetime
    inserted: int  # characters inserted by this revision
    deleted: int


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    info: DocumentInfo
    text: str
    history: list[Revision]  # the newest revisions, oldest first, ending at info.head_rev
    client_seqs: dict[str, tuple[int, int]]  # client -> (its newest seq, that revision)


@dataclass(frozen=True, slots=True)
class Commit:
    """One revision to append, with what the store keeps beside it."""

    revision: Revision
    op: Op  # the exact change from the revision before
    text_after: str  # the text at this revision (kept when a snapshot is due)


class AppendResult(enum.Enum):
    APPENDED = "appended"
    HEAD_MOVED = "head-moved"  # another process sequenced these revision numbers first
    DUPLICATE = "duplicate"  # an operation id of the batch is already in the log


class SortOrder(enum.Enum):
    UPDATED_DESC = "-updated"
    UPDATED_ASC = "updated"
    TITLE_ASC = "title"
    TITLE_DESC = "-title"
    CREATED_DESC = "-created"
    CREATED_ASC = "created"


def change_size(op: Op) -> tuple[int, int]:
    """Characters inserted and deleted by ``op``."""
    inserted = sum(len(c.text) for c in op if isinstance(c, ops.Insert))
    deleted = sum(len(c.text) for c in op if isinstance(c, ops.Delete))
    return inserted, deleted


class DocumentStore(Protocol):
    """Durable documents. Every method may raise ``DocumentNotFound`` for an unknown id."""

    snapshot_every: int

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    async def close(self) -> None:
        """Let go of connections; the store is not used after this."""

    # -- documents ----------------------------------------------------------------------

    async def create(self, doc_id: str, title: str, text: str) -> DocumentInfo:
        """A new document at revision 0 with ``text``; ``DocumentExists`` if the id is taken."""

    async def get(self, doc_id: str) -> DocumentInfo: ...

    async def list_documents(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        query: str | None = None,
        sort: SortOrder = SortOrder.UPDATED_DESC,
        only: Collection[str] | None = None,
    ) -> tuple[list[DocumentInfo], int]:
        """A page of documents whose title or id contains ``query`` (case-insensitive,
        plain text) and, if ``only`` is given, whose id is in it (what the caller may see);
        ties broken by id; and how many match in all."""

    async def rename(self, doc_id: str, title: str) -> DocumentInfo: ...

    async def delete(self, doc_id: str) -> None:
        """Forget the document with its log and snapshots."""

    # -- text and history ---------------------------------------------------------------

    async def load(self, doc_id: str, *, history: int) -> LoadedDocument:
        """The head text (newest snapshot plus the revisions since) and up to ``history``
        recent revisions."""

    async def text_at(self, doc_id: str, rev: int) -> str:
        """The text at ``rev``; ``RevisionNotFound`` outside 0..head."""

    async def revisions_after(self, doc_id: str, after: int, limit: int) -> list[Revision]:
        """Up to ``limit`` revisions numbered above ``after``, in order. No error for an
        unknown document: there is nothing after anything."""

    async def history(
        self, doc_id: str, *, offset: int, limit: int, newest_first: bool = True
    ) -> tuple[list[StoredRevision], int]:
        """A page of the revision log, and the number of revisions (the head revision)."""

    async def revision(self, doc_id: str, rev: int) -> StoredRevision: ...

    async def last_seq(self, doc_id: str, client: str) -> int:
        """The highest ``seq`` of ``client`` in the log, 0 if none."""

    async def find_operation(self, doc_id: str, op_id: OpId) -> Revision | None: ...

    async def append(self, doc_id: str, batch: Sequence[Commit]) -> AppendResult:
        """Commit ``batch`` (consecutive revisions) if the head is still the revision before
        its first; all of it or nothing."""
