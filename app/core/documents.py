"""The document service: creating, importing, renaming, deleting and restoring documents.

REST routes (and through them the ``collab docs`` commands) call this, never the store or
the rooms directly for these, so every path checks the same limits and tells the extensions
(the bus among them) the same things.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from app.config import Settings
from app.core.access import Access
from app.core.accounts import Role
from app.core.errors import BadRequest, InvalidInput, PayloadTooLarge
from app.core.extensions import Extensions
from app.core.registry import RoomRegistry
from app.core.store import DocumentInfo, DocumentStore, StoredRevision
from sync.text import checksum, validate_text


@dataclass(frozen=True, slots=True)
class TextAt:
    rev: int
    text: str
    checksum: str


@dataclass(frozen=True, slots=True)
class Editor:
    name: str
    color: str
    author: str  # the name their revisions carry


class DocumentService:
    def __init__(
        self,
        store: DocumentStore,
        rooms: RoomRegistry,
        settings: Settings,
        extensions: Extensions,
        access: Access | None = None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.settings = settings
        self.extensions = extensions
        self.access = access

    # -- checks -------------------------------------------------------------------------

    def check_text(self, text: str) -> None:
        validate_text(text)
        limit = self.settings.max_document_chars
        if len(text) > limit:
            raise PayloadTooLarge(f"the text has {len(text)} characters; the limit is {limit}")

    def check_title(self, title: str) -> None:
        validate_text(title, what="title")
        limit = self.settings.max_title_chars
        if len(title) > limit:
            raise InvalidInput(f"the title has {len(title)} characters; the limit is {limit}")

    @property
    def max_file_bytes(self) -> int:
        return self.settings.max_document_chars * 4  # UTF-8 needs at most 4 bytes a character

    # -- changes ------------------------------------------------------------------------

    async def create(
        self, title: str, text: str, doc_id: str | None = None, *, owner: str | None = None
    ) -> DocumentInfo:
        """A new document; ``owner`` (an account) gets the owner role on it."""
        self.check_title(title)
        self.check_text(text)
        info = await self.store.create(doc_id or str(uuid.uuid4()), title, text)
        if owner is not None and self.access is not None:
            await self.access.accounts.set_role(info.id, owner, Role.OWNER)
        await self.extensions.document_created(info, text)
        return info

    async def import_file(
        self, data: bytes, *, filename: str | None, title: str | None, owner: str | None = None
    ) -> DocumentInfo:
        """A new document from a UTF-8 file (a BOM is dropped); the title defaults to the
        file's name."""
        if len(data) > self.max_file_bytes:
            raise PayloadTooLarge(f"the file is larger than {self.max_file_bytes} bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
        self.check_text(text)
        if not title:
            # Browsers send a bare name, other clients sometimes a path (of either kind).
            title = re.split(r"[/\\]", filename or "")[-1] or "Imported"
            title = title[: self.settings.max_title_chars]
            validate_text(title, what="file name")
        return await self.create(title, text, owner=owner)

    async def rename(self, doc_id: str, title: str) -> DocumentInfo:
        self.check_title(title)
        info = await self.store.rename(doc_id, title)
        room = self.rooms.rooms.get(doc_id)
        if room is not None:
            room.renamed(info.title)
        await self.extensions.document_renamed(info)
        return info

    async def delete(self, doc_id: str) -> None:
        """Delete a document and its history; its connections are closed (4410)."""
        await self.store.delete(doc_id)
        if self.access is not None:
            await self.access.forget_document(doc_id)
        await self.rooms.forget(doc_id)
        await self.extensions.document_deleted(doc_id)

    async def restore(self, doc_id: str, rev: int, author: str) -> StoredRevision:
        """Make revision ``rev``'s text current again, as a new revision by ``author``."""
        validate_text(author, what="author")
        text = await self.store.text_at(doc_id, rev)
        async with self.rooms.holding(doc_id) as room:
            outcome = await room.submit_text(text, author)
        return await self.store.revision(doc_id, outcome.revision.rev)

    # -- reads --------------------------------------------------------------------------

    async def text(self, doc_id: str, rev: int | None = None) -> TextAt:
        """The current text (fresh from an open room if there is one), or the text at
        ``rev``."""
        room = self.rooms.rooms.get(doc_id)
        if rev is None and room is not None:
            now = await room.snapshot(refresh=True)
            return TextAt(now.rev, now.text, now.checksum)
        if rev is None:
            rev = (await self.store.get(doc_id)).head_rev
        text = await self.store.text_at(doc_id, rev)
        return TextAt(rev, text, checksum(text))

    def editors(self, doc_id: str) -> list[Editor]:
        """Who is editing ``doc_id`` now, in the order they joined."""
        room = self.rooms.rooms.get(doc_id)
        if room is None:
            return []
        return [
            Editor(str(p["name"]), str(p["color"]), str(p.get("author") or p["name"]))
            for p in room.people()
        ]
