"""Dependencies shared by routes: the store, the rooms, the document service, the settings,
the bus, and the extensions' ``authenticate`` hook that every API call passes first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from app.config import Settings
from app.core.access import OPEN, POLICY, Access, Principal, forbidden
from app.core.accounts import Account, Role
from app.core.bus import RevisionBus
from app.core.documents import DocumentService
from app.core.extensions import ConnectionRequest, Extensions
from app.core.identity import Identity
from app.core.registry import RoomRegistry
from app.core.store import DocumentStore
from app.core.xmpp_links import XmppLinks
from app.metrics import Metrics
from app.schemas import DOC_ID_PATTERN

_DOC_IN_PATH = re.compile(rf"^/api/documents/({DOC_ID_PATTERN.strip('^$')})(?:/|$)")


def get_store(request: Request) -> DocumentStore:
    store: DocumentStore = request.app.state.store
    return store


def get_rooms(request: Request) -> RoomRegistry:
    rooms: RoomRegistry = request.app.state.rooms
    return rooms


def get_documents(request: Request) -> DocumentService:
    documents: DocumentService = request.app.state.documents
    return documents


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_bus(request: Request) -> RevisionBus:
    bus: RevisionBus = request.app.state.bus
    return bus


async def authenticate(request: Request) -> ConnectionRequest:
    """Ask the extensions about this request before any work is done for it (Refused →
    401/403/429). What they learned is on the returned request's ``identity``."""
    extensions: Extensions = request.app.state.extensions
    found = _DOC_IN_PATH.match(request.url.path)
    client = request.client
    asking = ConnectionRequest(
        transport="http",
        path=request.url.path,
        doc_id=found.group(1) if found else None,
        method=request.method,
        headers=dict(request.headers.items()),
        client=(client.host, client.port) if client else None,
    )
    await extensions.authenticate(asking)
    return asking


def get_access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


def get_identity(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


# Routes about accounts, which do not exist with COLLAB_AUTH=off (/api/auth/state says so).
ACCOUNT_ROUTES: tuple[str, ...] = (
    *("/api/auth/setup", "/api/auth/login", "/api/auth/register", "/api/auth/logout"),
    *("/api/auth/me", "/api/auth/password", "/api/auth/sessions", "/api/auth/tokens"),
    "/api/auth/xmpp-link",
    *("/api/users", "/api/invites", "/api/bots"),
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, and their role on the path's document (when the path names one)."""

    principal: Principal
    role: Role | None


async def authorize(
    request: Request, asking: Annotated[ConnectionRequest, Depends(authenticate)]
) -> Caller:
    """What the route needs (``app.core.access.POLICY``), checked for this caller. A route
    missing from the policy is refused: nothing is open by omission."""
    principal: Principal = asking.identity.get("principal", OPEN)
    template = str(getattr(request.scope.get("route"), "path", ""))
    need = POLICY.get((request.method, template))
    if need is None:
        raise forbidden(f"{request.method} {template} has no access rule")
    access = get_access(request)
    if not access.enabled and template.startswith(ACCOUNT_ROUTES):
        raise forbidden("accounts are off on this server (COLLAB_AUTH=off)")
    doc_id = request.path_params.get("doc_id")
    role = await access.require(principal, need, doc_id)
    return Caller(principal, role)


def get_xmpp_links(request: Request) -> XmppLinks:
    links: XmppLinks = request.app.state.xmpp_links
    return links


def signed_in(caller: Annotated[Caller, Depends(authorize)]) -> Account:
    """The caller's account (routes that need one; the policy has made sure of it)."""
    account = caller.principal.account
    if account is None:  # COLLAB_AUTH=off: there are no accounts to act as
        raise forbidden("accounts are off on this server (COLLAB_AUTH=off)")
    return account


StoreDep = Annotated[DocumentStore, Depends(get_store)]
RoomsDep = Annotated[RoomRegistry, Depends(get_rooms)]
DocumentsDep = Annotated[DocumentService, Depends(get_documents)]
BusDep = Annotated[RevisionBus, Depends(get_bus)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
CallerDep = Annotated[ConnectionRequest, Depends(authenticate)]
AuthorizedDep = Annotated[Caller, Depends(authorize)]
AccountDep = Annotated[Account, Depends(signed_in)]
AccessDep = Annotated[Access, Depends(get_access)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
XmppLinksDep = Annotated[XmppLinks, Depends(get_xmpp_links)]
DocId = Annotated[
    str,
    Path(
        pattern=DOC_ID_PATTERN,
        description="A URL-safe slug (letters, digits, '-', '_', at most 64) or a UUID.",
        examples=["q3-plan"],
    ),
]
