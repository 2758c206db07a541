"""Named versions: a label on a revision ("sent to legal", "v1.0"), to find it again, compare
it with another and restore it. A label names one revision of one document; naming another
revision with it moves it. Labels go with their document when it is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from app.core.errors import AppError, InvalidInput, RevisionNotFound
from app.core.extensions import Extension
from app.core.store import DocumentStore

MAX_VERSION_NAME = 80
MAX_VERSIONS = 500  # per document: a list a person can read


class VersionNotFound(AppError):
    code = "version-not-found"


@dataclass(frozen=True, slots=True)
class Version:
    doc_id: str
    name: str
    rev: int
    created_by: str
    created_at: datetime


class VersionStore(Protocol):
    async def name_version(self, version: Version) -> None:
        """Give ``version.name`` to ``version.rev`` (moving it if it named another)."""

    async def versions(self, doc_id: str) -> list[Version]:
        """The document's named versions, newest revision first."""

    async def count(self, doc_id: str) -> int: ...

    async def delete_version(self, doc_id: str, name: str) -> bool: ...

    async def forget_document(self, doc_id: str) -> None: ...


class MemoryVersions:
    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], Version] = {}

    async def name_version(self, version: Version) -> None:
        self._versions[(version.doc_id, version.name)] = version

    async def versions(self, doc_id: str) -> list[Version]:
        found = [v for (d, _), v in self._versions.items() if d == doc_id]
        return sorted(found, key=lambda v: (-v.rev, v.name))

    async def count(self, doc_id: str) -> int:
        return sum(1 for d, _ in self._versions if d == doc_id)

    async def delete_version(self, doc_id: str, name: str) -> bool:
        return self._versions.pop((doc_id, name), None) is not None

    async def forget_document(self, doc_id: str) -> None:
        for key in [k for k in self._versions if k[0] == doc_id]:
            del self._versions[key]


class Versions(Extension):
    """Naming, listing and removing versions, checked against the document; forgets a
    deleted document's labels (the SQL store's foreign key does too)."""

    priority = 950

    def __init__(self, store: VersionStore, documents: DocumentStore) -> None:
        self.store = store
        self.documents = documents

    async def name(self, doc_id: str, name: str, rev: int, by: str) -> Version:
        info = await self.documents.get(doc_id)  # DocumentNotFound
        if rev > info.head_rev:
            raise RevisionNotFound(
                f"'{doc_id}' has no revision {rev}; the newest is {info.head_rev}"
            )
        existing = {v.name for v in await self.store.versions(doc_id)}
        if name not in existing and len(existing) >= MAX_VERSIONS:
            raise InvalidInput(
                f"'{doc_id}' has {MAX_VERSIONS} named versions, the most it may: remove one first"
            )
        version = Version(doc_id, name, rev, by, datetime.now(UTC))
        await self.store.name_version(version)
        return version

    async def of(self, doc_id: str) -> list[Version]:
        await self.documents.get(doc_id)
        return await self.store.versions(doc_id)

    async def remove(self, doc_id: str, name: str) -> bool:
        await self.documents.get(doc_id)
        return await self.store.delete_version(doc_id, name)

    async def document_deleted(self, doc_id: str) -> None:
        await self.store.forget_document(doc_id)
