"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A URL-safe slug (letters, digits, '-', '_'), which includes the UUIDs the server makes.
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Revisions, offsets and limits fit a 32-bit signed integer (PostgreSQL's INTEGER).
MAX_INT = 2**31 - 1
MAX_TITLE_CHARS = 200


class ErrorDetail(BaseModel):
    """What went wrong; some codes add fields (``details``, ``position``, ...)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="A stable, machine-readable code such as 'document-not-found'.")
    message: str = Field(description="What went wrong, for people.")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class DocumentCreate(BaseModel):
    title: str = Field("Untitled", min_length=1, max_length=MAX_TITLE_CHARS)
    text: str = ""
    id: str | None = Field(
        None,
        pattern=DOC_ID_PATTERN,
        description="A URL-safe id (letters, digits, '-', '_'); a UUID is made if omitted.",
    )


class DocumentUpdate(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)


class DocumentPublic(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    rev: int
    length: int = Field(description="Length of the current text in Unicode code points.")
    checksum: str
    editors: int = Field(0, description="People connected to this server instance right now.")


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


class DiffPublic(BaseModel):
    from_rev: int
    to_rev: int
    patch: str
    diffs: list[tuple[Literal[-1, 0, 1], str]] = Field(
        description="diff-match-patch diffs: -1 deleted, 0 unchanged, 1 inserted."
    )


class RestoreRequest(BaseModel):
    rev: int = Field(ge=0, le=MAX_INT)
    author: str = Field("restore", min_length=1, max_length=64)
