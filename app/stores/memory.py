"""A ``DocumentStore`` in memory: for tests, and for a quick try (``COLLAB_DATABASE_URL=memory://``).

Nothing survives the process. It keeps the same promises as the SQL store (the contract suite
says so), including snapshots every ``snapshot_every`` revisions, so code that runs against it
behaves as it will against a database.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

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
from sync.protocol import OpId, Revision
from sync.text import checksum


@dataclass
class _Document:
    info: DocumentInfo
    log: list[StoredRevision] = field(default_factory=list)  # log[i] is revision i + 1
    snapshots: dict[int, str] = field(default_factory=dict)
    operations: dict[OpId, Revision] = field(default_factory=dict)
    last_seqs: dict[str, int] = field(default_factory=dict)


class MemoryStore:
    def __init__(self, *, snapshot_every: int = 100) -> None:
        self.snapshot_every = snapshot_every
        self._documents: dict[str, _Document] = {}

    async def ping(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _document(self, doc_id: str) -> _Document:
        document = self._documents.get(doc_id)
        if document is None:
            raise DocumentNotFound(f"document '{doc_id}' not found")
        return document

    # -- documents ----------------------------------------------------------------------

    async def create(self, doc_id: str, title: str, text: str) -> DocumentInfo:
        if doc_id in self._documents:
            raise DocumentExists(f"document '{doc_id}' already exists")
        stamp = now()
        info = DocumentInfo(doc_id, title, stamp, stamp, 0, len(text), checksum(text))
        self._documents[doc_id] = _Document(info, snapshots={0: text})
        return info

    async def get(self, doc_id: str) -> DocumentInfo:
        return self._document(doc_id).info

    async def list_documents(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        query: str | None = None,
        sort: SortOrder = SortOrder.UPDATED_DESC,
        only: Collection[str] | None = None,
    ) -> tuple[list[DocumentInfo], int]:
        infos = [d.info for d in self._documents.values()]
        if only is not None:
            allowed = set(only)
            infos = [i for i in infos if i.id in allowed]
        if query:
            needle = query.casefold()
            infos = [i for i in infos if needle in i.title.casefold() or needle in i.id.casefold()]
        infos.sort(key=lambda i: i.id)  # ties broken by id, as in SQL
        field_name, descending = _SORTS[sort]
        infos.sort(key=lambda i: getattr(i, field_name), reverse=descending)
        return infos[offset : offset + limit], len(infos)

    async def rename(self, doc_id: str, title: str) -> DocumentInfo:
        document = self._document(doc_id)
        document.info = replace(document.info, title=title, updated_at=now())
        return document.info

    async def delete(self, doc_id: str) -> None:
        self._document(doc_id)
        del self._documents[doc_id]

    # -- text and history ---------------------------------------------------------------

    async def load(self, doc_id: str, *, history: int) -> LoadedDocument:
        document = self._document(doc_id)
        head = document.info.head_rev
        text = await self.text_at(doc_id, head)
        recent = [s.revision for s in document.log[max(0, head - history) :]] if history else []
        seqs = {r.op_id.client: (r.op_id.seq, r.rev) for r in recent}
        return LoadedDocument(document.info, text, recent, seqs)

    async def text_at(self, doc_id: str, rev: int) -> str:
        document = self._document(doc_id)
        if not 0 <= rev <= document.info.head_rev:
            raise RevisionNotFound(
                f"document '{doc_id}' has revisions 0 to {document.info.head_rev}, not {rev}"
            )
        at = max(r for r in document.snapshots if r <= rev)
        return replay(document.snapshots[at], [s.revision for s in document.log[at:rev]])

    async def revisions_after(self, doc_id: str, after: int, limit: int) -> list[Revision]:
        document = self._documents.get(doc_id)
        if document is None:
            return []
        return [s.revision for s in document.log[max(0, after) : max(0, after) + limit]]

    async def history(
        self, doc_id: str, *, offset: int, limit: int, newest_first: bool = True
    ) -> tuple[list[StoredRevision], int]:
        document = self._document(doc_id)
        log = document.log[::-1] if newest_first else document.log
        return log[offset : offset + limit], document.info.head_rev

    async def revision(self, doc_id: str, rev: int) -> StoredRevision:
        document = self._document(doc_id)
        if not 1 <= rev <= len(document.log):
            raise RevisionNotFound(f"document '{doc_id}' has no revision {rev}")
        return document.log[rev - 1]

    async def last_seq(self, doc_id: str, client: str) -> int:
        document = self._documents.get(doc_id)
        return 0 if document is None else document.last_seqs.get(client, 0)

    async def find_operation(self, doc_id: str, op_id: OpId) -> Revision | None:
        document = self._documents.get(doc_id)
        return None if document is None else document.operations.get(op_id)

    async def append(self, doc_id: str, batch: Sequence[Commit]) -> AppendResult:
        document = self._document(doc_id)
        if not batch:
            return AppendResult.APPENDED
        if document.info.head_rev != batch[0].revision.rev - 1:
            return AppendResult.HEAD_MOVED
        op_ids = [c.revision.op_id for c in batch]
        if len(set(op_ids)) != len(op_ids) or any(o in document.operations for o in op_ids):
            return AppendResult.DUPLICATE
        stamp = now()
        for commit in batch:
            revision = commit.revision
            inserted, deleted = change_size(commit.op)
            document.log.append(StoredRevision(revision, stamp, inserted, deleted))
            document.operations[revision.op_id] = revision
            client = revision.op_id.client
            document.last_seqs[client] = max(document.last_seqs.get(client, 0), revision.op_id.seq)
            if revision.rev % self.snapshot_every == 0:
                document.snapshots[revision.rev] = commit.text_after
        last = batch[-1]
        document.info = replace(
            document.info,
            head_rev=last.revision.rev,
            updated_at=stamp,
            length=len(last.text_after),
            checksum=last.revision.checksum,
        )
        return AppendResult.APPENDED


_SORTS: dict[SortOrder, tuple[str, bool]] = {
    SortOrder.UPDATED_DESC: ("updated_at", True),
    SortOrder.UPDATED_ASC: ("updated_at", False),
    SortOrder.TITLE_ASC: ("title", False),
    SortOrder.TITLE_DESC: ("title", True),
    SortOrder.CREATED_DESC: ("created_at", True),
    SortOrder.CREATED_ASC: ("created_at", False),
}
