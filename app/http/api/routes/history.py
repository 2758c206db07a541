"""History: revisions, one revision's patch, diffs between revisions, restore."""

from __future__ import annotations

from typing import Annotated, Literal

from diff_match_patch import diff_match_patch
from fastapi import APIRouter, Path, Query, status

from app.core.store import StoredRevision
from app.http.api.deps import AccessDep, AuthorizedDep, DocId, DocumentsDep, StoreDep
from app.http.api.responses import errors
from app.http.api.routes import blame
from app.schemas import (
    MAX_INT,
    DiffChunk,
    DiffPublic,
    RestoreRequest,
    RevisionPublic,
    RevisionsPublic,
    RevisionSummary,
)
from sync import ops, patches

router = APIRouter(prefix="/api/documents/{doc_id}", tags=["history"])
blame.install(router)


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


def detail(stored: StoredRevision) -> RevisionPublic:
    return RevisionPublic(
        **summary(stored).model_dump(),
        patch=stored.revision.patch,
        checksum=stored.revision.checksum,
    )


@router.get("/revisions", response_model=RevisionsPublic, responses=errors(404, 422))
async def list_revisions(
    doc_id: DocId,
    store: StoreDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    order: Literal["newest", "oldest"] = "newest",
) -> RevisionsPublic:
    """Revisions with author, time and size of change, newest first by default."""
    items, total = await store.history(
        doc_id, offset=offset, limit=limit, newest_first=order == "newest"
    )
    return RevisionsPublic(
        items=[summary(i) for i in items], total=total, offset=offset, limit=limit
    )


@router.get("/revisions/{rev}", response_model=RevisionPublic, responses=errors(404, 422))
async def read_revision(
    doc_id: DocId,
    rev: Annotated[int, Path(ge=1, le=MAX_INT, description="Revision 1 is the first edit")],
    store: StoreDep,
) -> RevisionPublic:
    """One revision, with its exact patch from the revision before."""
    return detail(await store.revision(doc_id, rev))


@router.get("/diff", response_model=DiffPublic, responses=errors(404, 422))
async def diff_revisions(
    doc_id: DocId,
    store: StoreDep,
    from_rev: Annotated[int, Query(alias="from", ge=0, le=MAX_INT, examples=[0])],
    to_rev: Annotated[int, Query(alias="to", ge=0, le=MAX_INT, examples=[1])],
) -> DiffPublic:
    """What changed between two revisions, as a patch and as readable diffs."""
    old = await store.text_at(doc_id, from_rev)
    new = await store.text_at(doc_id, to_rev)
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0
    diffs = dmp.diff_main(old, new)
    dmp.diff_cleanupSemantic(diffs)
    patch = patches.patch_text(old, ops.from_diffs(diffs))
    chunks = [DiffChunk(op=_DIFF_OPS[op], text=text) for op, text in diffs]
    return DiffPublic(from_rev=from_rev, to_rev=to_rev, patch=patch, diffs=chunks)


_DIFF_OPS: dict[int, Literal["equal", "insert", "delete"]] = {
    0: "equal",
    1: "insert",
    -1: "delete",
}


@router.post(
    "/restore",
    status_code=status.HTTP_201_CREATED,
    response_model=RevisionPublic,
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def restore_revision(
    doc_id: DocId,
    body: RestoreRequest,
    documents: DocumentsDep,
    access: AccessDep,
    caller: AuthorizedDep,
) -> RevisionPublic:
    """Make an old revision's text current again, as a new revision (by you, when you are
    signed in: ``author`` only names guests and servers without accounts)."""
    author = access.author(caller.principal, body.author)
    return detail(await documents.restore(doc_id, body.rev, author))
