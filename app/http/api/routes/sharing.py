"""Sharing a document: people and their roles, and the view and edit links."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Request, Response, status

from app.core.accounts import Role
from app.http.api.deps import AccessDep, AuthorizedDep, DocId, IdentityDep, StoreDep
from app.http.api.responses import errors
from app.schemas import (
    ACCOUNT_NAME,
    GrantPublic,
    LinkCreate,
    LinkCreated,
    LinkPublic,
    ShareUpdate,
    SharingPublic,
)

router = APIRouter(prefix="/api/documents/{doc_id}", tags=["sharing"])

Name = Path(pattern=ACCOUNT_NAME, description="An account's name")


@router.get("/sharing", response_model=SharingPublic, responses=errors(404, 422))
async def read_sharing(
    doc_id: DocId, store: StoreDep, identity: IdentityDep, caller: AuthorizedDep
) -> SharingPublic:
    """Who has which role on the document, and which links exist (never their secrets)."""
    await store.get(doc_id)
    accounts = identity.accounts
    people = []
    for grant in await accounts.grants_of(doc_id):
        account = await accounts.get_account(grant.account)
        shown = account.display_name if account else grant.account
        people.append(GrantPublic(name=grant.account, display_name=shown, role=grant.role.value))
    links = [
        LinkPublic(role=link.role.value, created_at=link.created_at)
        for link in await accounts.links_of(doc_id)
    ]
    role = caller.role.value if caller.role else None
    return SharingPublic(
        doc_id=doc_id,
        owner=await accounts.owner_of(doc_id),
        your_role=role,
        people=people,
        links=links,
    )


@router.put(
    "/sharing/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(400, 404, 422)
)
async def share_document(
    doc_id: DocId,
    body: ShareUpdate,
    store: StoreDep,
    access: AccessDep,
    identity: IdentityDep,
    name: str = Name,
) -> Response:
    """Give a person the editor or viewer role (replacing the one they had)."""
    await store.get(doc_id)
    await identity.account_named(name)
    await access.share(doc_id, name, Role(body.role))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/sharing/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422)
)
async def unshare_document(
    doc_id: DocId, store: StoreDep, access: AccessDep, name: str = Name
) -> Response:
    """Take a person's role away; their open editors are closed within seconds."""
    await store.get(doc_id)
    await access.share(doc_id, name, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/links",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkCreated,
    responses=errors(400, 404, 422),
)
async def create_link(
    doc_id: DocId, body: LinkCreate, request: Request, store: StoreDep, identity: IdentityDep
) -> LinkCreated:
    """A new view or edit link (the previous link of that kind stops working). Whoever opens
    it, signed in or not, gets that role; the link is in this answer only."""
    await store.get(doc_id)
    token = await identity.create_link(doc_id, Role(body.role))
    url = str(request.url_for("editor_page", doc_id=doc_id).include_query_params(key=token))
    return LinkCreated(role=body.role, token=token, url=url)


@router.delete("/links/{role}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def revoke_link(
    doc_id: DocId,
    store: StoreDep,
    identity: IdentityDep,
    role: Literal["editor", "viewer"],
) -> Response:
    """Revoke the view or edit link; guests who came through it are closed within seconds."""
    await store.get(doc_id)
    await identity.revoke_link(doc_id, Role(role))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
