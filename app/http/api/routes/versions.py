"""Named versions of a document: labels on revisions (app/core/versions.py)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response, status

from app.core.versions import Version, VersionNotFound, Versions
from app.http.api.deps import AuthorizedDep, DocId
from app.http.api.responses import errors
from app.schemas import VERSION_NAME, VersionCreate, VersionPublic, VersionsPublic

router = APIRouter(prefix="/api/documents/{doc_id}", tags=["history"])

Name = Path(pattern=VERSION_NAME, description="The version's label")


def _versions(request: Request) -> Versions:
    versions: Versions = request.app.state.versions
    return versions


def _public(version: Version) -> VersionPublic:
    return VersionPublic(
        name=version.name,
        rev=version.rev,
        created_by=version.created_by,
        created_at=version.created_at,
    )


@router.get("/versions", response_model=VersionsPublic, responses=errors(404, 422))
async def list_versions(doc_id: DocId, request: Request) -> VersionsPublic:
    """The document's named versions, newest revision first."""
    return VersionsPublic(items=[_public(v) for v in await _versions(request).of(doc_id)])


@router.post(
    "/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=VersionPublic,
    responses=errors(400, 404, 422),
)
async def name_version(
    doc_id: DocId, body: VersionCreate, request: Request, caller: AuthorizedDep
) -> VersionPublic:
    """Name a revision (a label already used moves to it). Compare two versions with
    `/diff?from=&to=` and bring one back with `/restore`."""
    by = caller.principal.name or "someone"
    return _public(await _versions(request).name(doc_id, body.name, body.rev, by))


@router.delete(
    "/versions/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422)
)
async def delete_version(
    doc_id: DocId, request: Request, caller: AuthorizedDep, name: str = Name
) -> Response:
    """Remove a label (the revision stays)."""
    if not await _versions(request).remove(doc_id, name):
        raise VersionNotFound(f"'{doc_id}' has no version named {name!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
