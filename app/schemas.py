"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# A URL-safe slug (letters, digits, '-', '_'), which includes the UUIDs the server makes.
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Revisions, offsets and limits fit a 32-bit signed integer (PostgreSQL's INTEGER).
MAX_INT = 2**31 - 1
MAX_TITLE_CHARS = 200
# The characters a document, title or name may hold (XML 1.0's), as a JSON Schema pattern. It
# only documents the rule: sync.text.validate_text enforces it, naming the offending character
# in a 422 "invalid-text" error. Lone surrogates are refused too, but are left out here: they
# are not Unicode scalar values, and most regex engines cannot name them.
XML_TEXT_PATTERN = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]*$"
XML_TEXT: dict[str, Any] = {"pattern": XML_TEXT_PATTERN}


def _json_integer(value: object) -> object:
    # Pydantic's lax mode would read true as 1 and "7" as 7; JSON Schema's integer is neither.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class ErrorDetail(BaseModel):
    """What went wrong; some codes add fields (``details``, ``position``, ...)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="A stable, machine-readable code such as 'document-not-found'.")
    message: str = Field(description="What went wrong, for people.")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class DocumentCreate(BaseModel):
    title: str = Field(
        "Untitled", min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=XML_TEXT
    )
    text: str = Field("", json_schema_extra=XML_TEXT)
    id: str | None = Field(
        None,
        pattern=DOC_ID_PATTERN,
        description="A URL-safe id (letters, digits, '-', '_'); a UUID is made if omitted.",
    )


class DocumentUpdate(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=XML_TEXT)


class EditorPublic(BaseModel):
    """Someone with the document open, as they named themselves when joining."""

    name: str
    color: str


class DocumentPublic(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    rev: int
    length: int = Field(description="Length of the current text in Unicode code points.")
    checksum: str
    editors: int = Field(0, description="People connected to this server instance right now.")
    people: list[EditorPublic] = Field(
        default_factory=list,
        description="Who they are, in the order they joined. Like editors, this counts only the "
        "connections to this server instance, not those to other instances sharing the "
        "document over XMPP.",
    )


class DocumentsPublic(BaseModel):
    items: list[DocumentPublic]
    total: int
    offset: int
    limit: int


class DocumentText(BaseModel):
    id: str
    rev: int
    text: str
    checksum: str


class RevisionSummary(BaseModel):
    rev: int
    base: int
    author: str
    client: str
    seq: int
    created_at: datetime
    inserted: int
    deleted: int


class RevisionsPublic(BaseModel):
    items: list[RevisionSummary]
    total: int
    offset: int
    limit: int


class RevisionPublic(RevisionSummary):
    patch: str = Field(description="diff-match-patch patch_toText form, positions in code points.")
    checksum: str


class DiffChunk(BaseModel):
    op: Literal["equal", "insert", "delete"]
    text: str


class DiffPublic(BaseModel):
    from_rev: int
    to_rev: int
    patch: str = Field(description="From the text at from_rev to the text at to_rev.")
    diffs: list[DiffChunk] = Field(
        description="The change as readable chunks, in order: the equal and deleted chunks "
        "make the old text, the equal and inserted ones the new."
    )


class RestoreRequest(BaseModel):
    rev: JsonInt = Field(ge=0, le=MAX_INT, examples=[0])
    author: str = Field("restore", min_length=1, max_length=64, json_schema_extra=XML_TEXT)
