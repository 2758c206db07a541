"""Documents: create, list, read, rename, delete, import, export."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from app.api.deps import DocId, RoomsDep, SettingsDep, StoreDep, XmppDep
from app.api.responses import errors
from app.config import Settings
from app.errors import BadRequest, InvalidInput, PayloadTooLarge
from app.schemas import (
    MAX_INT,
    MAX_TITLE_CHARS,
    XML_TEXT,
    DocumentCreate,
    DocumentPublic,
    DocumentsPublic,
    DocumentText,
    DocumentUpdate,
    EditorPublic,
)
from app.store import DocumentInfo, SortOrder
from app.xmpp.bridge import XmppBridge
from sync.protocol import Snapshot
from sync.text import checksum, validate_text

router = APIRouter(prefix="/api/documents", tags=["documents"])
# Not /api/documents/import: that path would also be the document with the id "import".
imports = APIRouter(prefix="/api/imports", tags=["documents"])

Rev = Annotated[int | None, Query(ge=0, le=MAX_INT, description="A past revision")]


def public(info: DocumentInfo, people: list[EditorPublic] | None = None) -> DocumentPublic:
    people = people or []
    return DocumentPublic(
        id=info.id,
        title=info.title,
        created_at=info.created_at,
        updated_at=info.updated_at,
        rev=info.head_rev,
        length=info.length,
        checksum=info.checksum,
        editors=len(people),
        people=people,
    )


def _editors(rooms: RoomsDep, doc_id: str) -> list[EditorPublic]:
    room = rooms.rooms.get(doc_id)
    if room is None:
        return []
    return [EditorPublic(name=m.person.name, color=m.person.color) for m in room.members.values()]


def _check_text(text: str, limit: int) -> None:
    validate_text(text)
    if len(text) > limit:
        raise PayloadTooLarge(f"the text has {len(text)} characters; the limit is {limit}")


def _check_title(title: str, settings: Settings) -> None:
    validate_text(title, what="title")
    if len(title) > settings.max_title_chars:
        raise InvalidInput(
            f"the title has {len(title)} characters; the limit is {settings.max_title_chars}"
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentPublic,
    responses=errors(400, 409, 413, 422),
)
async def create_document(
    body: DocumentCreate, store: StoreDep, settings: SettingsDep, xmpp: XmppDep
) -> DocumentPublic:
    """Create a document, optionally with initial text and a chosen id."""
    _check_title(body.title, settings)
    _check_text(body.text, settings.max_document_chars)
    info = await store.create(body.id or str(uuid.uuid4()), body.title, body.text)
    await _announce(xmpp, info, body.text)
    return public(info)


async def _announce(xmpp: XmppBridge | None, info: DocumentInfo, text: str) -> None:
    # The document's pubsub nodes, with its first snapshot, so bots can follow it at once.
    if xmpp is not None:
        await xmpp.document_created(info.id, info.title, Snapshot(0, text, info.checksum))


@router.get("", response_model=DocumentsPublic, responses=errors(422))
async def list_documents(
    store: StoreDep,
    rooms: RoomsDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    q: Annotated[
        str | None,
        Query(max_length=MAX_TITLE_CHARS, description="Search titles and ids (plain text)"),
    ] = None,
    sort: SortOrder = SortOrder.UPDATED_DESC,
) -> DocumentsPublic:
    """List documents, newest edit first by default."""
    items, total = await store.list_documents(offset=offset, limit=limit, query=q, sort=sort)
    return DocumentsPublic(
        items=[public(i, _editors(rooms, i.id)) for i in items],
        total=total,
        offset=offset,
        limit=limit,
    )


@imports.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentPublic,
    responses=errors(400, 413, 422),
)
async def import_document(
    store: StoreDep,
    settings: SettingsDep,
    xmpp: XmppDep,
    file: Annotated[
        UploadFile,
        File(description="A UTF-8 text file (a BOM is dropped) without XML-forbidden characters"),
    ],
    title: Annotated[
        str | None,
        Form(
            max_length=MAX_TITLE_CHARS,
            description="The title; the file's name if omitted",
            json_schema_extra=XML_TEXT,
        ),
    ] = None,
) -> DocumentPublic:
    """Create a document from an uploaded text file."""
    limit = settings.max_document_chars * 4  # UTF-8 needs at most 4 bytes a character
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    _check_text(text, settings.max_document_chars)
    if title:
        _check_title(title, settings)
    else:
        # Browsers send a bare name, other clients sometimes a path (of either kind).
        title = re.split(r"[/\\]", file.filename or "")[-1] or "Imported"
        title = title[: settings.max_title_chars]
        validate_text(title, what="file name")
    info = await store.create(str(uuid.uuid4()), title, text)
    await _announce(xmpp, info, text)
    return public(info)


@router.get("/{doc_id}", response_model=DocumentPublic, responses=errors(404, 422))
async def read_document(doc_id: DocId, store: StoreDep, rooms: RoomsDep) -> DocumentPublic:
    """A document's metadata."""
    return public(await store.get(doc_id), _editors(rooms, doc_id))


@router.patch("/{doc_id}", response_model=DocumentPublic, responses=errors(400, 404, 422))
async def rename_document(
    doc_id: DocId, body: DocumentUpdate, store: StoreDep, rooms: RoomsDep, settings: SettingsDep
) -> DocumentPublic:
    """Rename a document."""
    _check_title(body.title, settings)
    info = await store.rename(doc_id, body.title)
    room = rooms.rooms.get(doc_id)
    if room is not None:
        room.title = info.title
        room.broadcast({"type": "renamed", "title": info.title})
    return public(info, _editors(rooms, doc_id))


@router.delete("/{doc_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def delete_document(
    doc_id: DocId, store: StoreDep, rooms: RoomsDep, xmpp: XmppDep
) -> Response:
    """Delete a document and its history; connected editors are disconnected (4410)."""
    await store.delete(doc_id)
    await rooms.forget(doc_id)
    if xmpp is not None:
        await xmpp.document_deleted(doc_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{doc_id}/text", response_model=DocumentText, responses=errors(404, 422))
async def read_text(
    doc_id: DocId, store: StoreDep, rooms: RoomsDep, rev: Rev = None
) -> DocumentText:
    """The current text, or the text at revision ``rev``."""
    room = rooms.rooms.get(doc_id)
    if rev is None and room is not None:
        await room.refresh()
        sequencer = room.sequencer
        return DocumentText(
            id=doc_id, rev=sequencer.rev, text=sequencer.text, checksum=sequencer.checksum
        )
    if rev is None:
        rev = (await store.get(doc_id)).head_rev
    text = await store.text_at(doc_id, rev)
    return DocumentText(id=doc_id, rev=rev, text=text, checksum=checksum(text))


@router.get(
    "/{doc_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "The text as a file download",
            "content": {"text/plain": {}, "text/markdown": {}},
        },
        **errors(404, 422),
    },
)
async def export_document(doc_id: DocId, store: StoreDep, rev: Rev = None) -> Response:
    """Download the text as a file: ``.md`` when the title ends in .md, else ``.txt``."""
    info = await store.get(doc_id)
    text = await store.text_at(doc_id, info.head_rev if rev is None else rev)
    markdown = info.title.lower().endswith(".md")
    return Response(
        text.encode("utf-8"),
        media_type="text/markdown; charset=utf-8" if markdown else "text/plain; charset=utf-8",
        headers={"Content-Disposition": content_disposition(info.title, markdown=markdown)},
    )


def content_disposition(title: str, *, markdown: bool) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact one as RFC 5987 ``filename*``."""
    extension = ".md" if markdown else ".txt"
    stem = title[: -len(extension)] if title.lower().endswith(extension) else title
    stem = unicodedata.normalize("NFC", stem)
    # Keep letters of any script; drop path separators, controls and shell-hostile marks.
    stem = re.sub(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|;]+", "_", stem).strip(" ._") or "document"
    stem = stem[:120]
    # Old clients read only `filename`, which must be ASCII: decompose accents, drop the rest.
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9 ._()!#$&+,=@^`{}~'\[\]-]+", "_", ascii_stem)
    ascii_stem = ascii_stem.strip(" ._") or "document"
    exact = quote(stem + extension, safe="")
    return f"attachment; filename=\"{ascii_stem}{extension}\"; filename*=UTF-8''{exact}"
