"""History: revisions, one revision's patch, diffs between revisions, restore."""

from __future__ import annotations

from typing import Annotated, Any

from diff_match_patch import diff_match_patch
from fastapi import APIRouter, Query, status

from app.api.deps import RoomsDep, StoreDep
from app.schemas import (
    DiffPublic,
    RestoreRequest,
    RevisionPublic,
    RevisionsPublic,
    RevisionSummary,
)
from app.store import StoredRevision
from sync import ops, patches
from sync.text import validate_text

router = APIRouter(prefix="/api/documents/{doc_id}", tags=["history"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such document or revision"}}


def summary(stored: StoredRevision) -> RevisionSummary:
    r = stored.revision
    return RevisionSummary(
        rev=r.rev,
        base=r.base,
        author=r.author,
        client=r.op_id.client,
        seq=r.op_id.seq,
        created_at=stored.created_at,
        inserted=stored.inserted,
        deleted=stored.deleted,
    )


@router.get("/revisions", response_model=RevisionsPublic, responses=NOT_FOUND)
async def list_revisions(
    doc_id: str,
    store: StoreDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    order: Annotated[str, Query(pattern="^(newest|oldest)$")] = "newest",
) -> RevisionsPublic:
    """Revisions with author, time and size of change, newest first by default."""
    items, total = await store.history(
        doc_id, offset=offset, limit=limit, newest_first=order == "newest"
    )
    return RevisionsPublic(
        items=[summary(i) for i in items], total=total, offset=offset, limit=limit
    )


@router.get("/revisions/{rev}", response_model=RevisionPublic, responses=NOT_FOUND)
async def read_revision(doc_id: str, rev: int, store: StoreDep) -> RevisionPublic:
    """One revision, with its exact patch from the revision before."""
    stored = await store.revision(doc_id, rev)
    return RevisionPublic(
        **summary(stored).model_dump(),
        patch=stored.revision.patch,
        checksum=stored.revision.checksum,
    )


@router.get("/diff", response_model=DiffPublic, responses=NOT_FOUND)
async def diff_revisions(
    doc_id: str,
    store: StoreDep,
    from_rev: Annotated[int, Query(alias="from", ge=0)],
    to_rev: Annotated[int, Query(alias="to", ge=0)],
) -> DiffPublic:
    """What changed between two revisions, as a patch and as readable diffs."""
    old = await store.text_at(doc_id, from_rev)
    new = await store.text_at(doc_id, to_rev)
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0
    diffs = dmp.diff_main(old, new)
    dmp.diff_cleanupSemantic(diffs)
    patch = patches.patch_text(old, ops.from_diffs(diffs))
    return DiffPublic(from_rev=from_rev, to_rev=to_rev, patch=patch, diffs=diffs)


@router.post(
    "/restore",
    status_code=status.HTTP_201_CREATED,
    response_model=RevisionPublic,
    responses=NOT_FOUND,
)
async def restore_revision(
    doc_id: str, body: RestoreRequest, store: StoreDep, rooms: RoomsDep
) -> RevisionPublic:
    """Make an old revision's text current again, as a new revision."""
    validate_text(body.author, what="author")
    text = await store.text_at(doc_id, body.rev)
    async with rooms.holding(doc_id) as room:
        outcome = await room.submit_text(text, body.author)
    return await read_revision(doc_id, outcome.revision.rev, store)
