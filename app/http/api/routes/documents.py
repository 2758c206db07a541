"""Documents: create, list, read, rename, delete, import, export."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from app.core.documents import Editor
from app.core.store import DocumentInfo, SortOrder
from app.http.api.deps import AccessDep, AuthorizedDep, DocId, DocumentsDep, StoreDep
from app.http.api.responses import errors
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

router = APIRouter(prefix="/api/documents", tags=["documents"])
# Not /api/documents/import: that path would also be the document with the id "import".
imports = APIRouter(prefix="/api/imports", tags=["documents"])

Rev = Annotated[int | None, Query(ge=0, le=MAX_INT, description="A past revision")]


def public(info: DocumentInfo, editors: list[Editor] | None = None) -> DocumentPublic:
    people = [EditorPublic(name=e.name, color=e.color, author=e.author) for e in editors or []]
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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentPublic,
    responses=errors(400, 401, 403, 409, 413, 422),
)
async def create_document(
    body: DocumentCreate, documents: DocumentsDep, caller: AuthorizedDep
) -> DocumentPublic:
    """Create a document, optionally with initial text and a chosen id; you own it."""
    owner = caller.principal.name
    return public(await documents.create(body.title, body.text, body.id, owner=owner))


@router.get("", response_model=DocumentsPublic, responses=errors(422))
async def list_documents(
    store: StoreDep,
    documents: DocumentsDep,
    access: AccessDep,
    caller: AuthorizedDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    q: Annotated[
        str | None,
        Query(max_length=MAX_TITLE_CHARS, description="Search titles and ids (plain text)"),
    ] = None,
    sort: SortOrder = SortOrder.UPDATED_DESC,
) -> DocumentsPublic:
    """List the documents you may see, newest edit first by default."""
    only = await access.visible_ids(caller.principal)
    items, total = await store.list_documents(
        offset=offset, limit=limit, query=q, sort=sort, only=only
    )
    return DocumentsPublic(
        items=[public(i, documents.editors(i.id)) for i in items],
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
    documents: DocumentsDep,
    caller: AuthorizedDep,
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
    # One byte more than allowed is enough to know the file is too large.
    data = await file.read(documents.max_file_bytes + 1)
    owner = caller.principal.name
    return public(
        await documents.import_file(data, filename=file.filename, title=title, owner=owner)
    )


@router.get("/{doc_id}", response_model=DocumentPublic, responses=errors(404, 422))
async def read_document(doc_id: DocId, store: StoreDep, documents: DocumentsDep) -> DocumentPublic:
    """A document's metadata."""
    return public(await store.get(doc_id), documents.editors(doc_id))


@router.patch("/{doc_id}", response_model=DocumentPublic, responses=errors(400, 404, 422))
async def rename_document(
    doc_id: DocId, body: DocumentUpdate, documents: DocumentsDep
) -> DocumentPublic:
    """Rename a document."""
    info = await documents.rename(doc_id, body.title)
    return public(info, documents.editors(doc_id))


@router.delete("/{doc_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def delete_document(doc_id: DocId, documents: DocumentsDep) -> Response:
    """Delete a document and its history; connected editors are disconnected (4410)."""
    await documents.delete(doc_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{doc_id}/text", response_model=DocumentText, responses=errors(404, 422))
async def read_text(doc_id: DocId, documents: DocumentsDep, rev: Rev = None) -> DocumentText:
    """The current text, or the text at revision ``rev``."""
    found = await documents.text(doc_id, rev)
    return DocumentText(id=doc_id, rev=found.rev, text=found.text, checksum=found.checksum)


ExportFormat = Literal["txt", "md", "html"]

MEDIA_TYPES: dict[str, str] = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}

# A downloaded page: the text as it is, escaped, in a page that needs nothing else.
HTML_EXPORT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 2rem auto; max-width: 50rem; padding: 0 1rem; font: 16px/1.5 sans-serif; }}
pre {{ white-space: pre-wrap; overflow-wrap: anywhere; font: inherit; }}
</style>
</head>
<body>
<h1>{title}</h1>
<pre>{text}</pre>
</body>
</html>
"""


@router.get(
    "/{doc_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "The text as a file download",
            "content": {"text/plain": {}, "text/markdown": {}, "text/html": {}},
        },
        **errors(404, 422),
    },
)
async def export_document(
    doc_id: DocId,
    store: StoreDep,
    rev: Rev = None,
    format: Annotated[
        ExportFormat | None,
        Query(description="txt, md or html; by default md when the title ends in .md, else txt"),
    ] = None,
) -> Response:
    """Download the text as a file: ``.txt``, ``.md`` or ``.html`` (the text, escaped, in a
    page of its own)."""
    info = await store.get(doc_id)
    text = await store.text_at(doc_id, info.head_rev if rev is None else rev)
    chosen: ExportFormat = format or ("md" if info.title.lower().endswith(".md") else "txt")
    body = text
    if chosen == "html":
        body = HTML_EXPORT.format(title=html.escape(info.title), text=html.escape(text))
    return Response(
        body.encode("utf-8"),
        media_type=MEDIA_TYPES[chosen],
        headers={"Content-Disposition": content_disposition(info.title, extension=chosen)},
    )


def content_disposition(title: str, *, extension: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact one as RFC 5987 ``filename*``."""
    extension = f".{extension}"
    stem = title
    for known in (".md", ".txt", ".html"):  # "notes.md" as HTML is notes.html
        if stem.lower().endswith(known):
            stem = stem[: -len(known)]
            break
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
