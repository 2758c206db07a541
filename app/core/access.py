"""Who may do what, decided in one place.

Every REST route has one line in ``POLICY`` saying what it needs (``Need``); a route missing
from it is refused, so a new route cannot be left open by forgetting it. The WebSocket asks
``Access.role_on`` before it accepts a socket, and ``Access.may_edit`` before every edit.
Roles come from the document's grants (owner, editor, viewer), from share links presented
by the caller (view or edit), and, for documents from before accounts (no owner), from the
``legacy_access`` setting; administrators may do anything.

Open connections are watched: when a role changes here, the document's connections are
checked at once; every ``access_recheck_seconds`` all of them are (a change made by another
instance, a session that expired). A connection that lost its access is closed with 4403; one
that was made a viewer stays, read-only.

    anonymous  nobody known, no link         → 401 where anything is needed
    guest      no account, a share link      → the link's role on that document only
    account    a session, API token or proxy → its grants, plus links it presents
    open       COLLAB_AUTH=off               → everything (no accounts at all)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from app.config import Settings
from app.core.accounts import Account, AccountStore, BrowserSession, Role, ShareLink
from app.core.bus import BusMember
from app.core.errors import Refusal, Refused
from app.core.members import CLOSE_FORBIDDEN, Member
from app.core.store import DocumentStore
from sync.protocol import OpId

log = logging.getLogger(__name__)


class Kind(enum.Enum):
    ANONYMOUS = "anonymous"
    GUEST = "guest"
    ACCOUNT = "account"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    account: Account | None = None
    links: tuple[ShareLink, ...] = ()  # share links the caller presented (guests and accounts)
    via: str = ""  # "session", "token", "proxy", "link"
    session: BrowserSession | None = None  # when authenticated by the session cookie
    token_hash: str = ""  # when authenticated by an API token

    @property
    def name(self) -> str | None:
        return self.account.name if self.account else None

    @property
    def admin(self) -> bool:
        return self.kind is Kind.OPEN or (self.account is not None and self.account.admin)

    @property
    def signed_in(self) -> bool:
        return self.kind in (Kind.ACCOUNT, Kind.OPEN)

    def link_role(self, doc_id: str) -> Role | None:
        roles = [link.role for link in self.links if link.doc_id == doc_id]
        return max(roles, key=lambda r: r.rank) if roles else None


ANONYMOUS = Principal(Kind.ANONYMOUS)
OPEN = Principal(Kind.OPEN)


class Need(enum.Enum):
    PUBLIC = "public"  # anyone, signed in or not
    ACCOUNT = "account"  # a signed-in person (creating documents, their own account)
    ADMIN = "admin"
    VIEW = "view"  # a role on the path's document
    EDIT = "edit"
    OWN = "own"


NEED_ROLE = {Need.VIEW: Role.VIEWER, Need.EDIT: Role.EDITOR, Need.OWN: Role.OWNER}

# (method, route template) → what the route needs. Kept beside the decisions so the whole
# policy reads in one screen; tests/app/http/test_authorization.py checks every route is here.
POLICY: dict[tuple[str, str], Need] = {
    ("GET", "/health"): Need.PUBLIC,
    ("GET", "/ready"): Need.PUBLIC,
    ("GET", "/metrics"): Need.PUBLIC,
    # accounts and sessions
    ("GET", "/api/auth/state"): Need.PUBLIC,
    ("POST", "/api/auth/setup"): Need.PUBLIC,
    ("POST", "/api/auth/login"): Need.PUBLIC,
    ("POST", "/api/auth/register"): Need.PUBLIC,
    ("POST", "/api/auth/logout"): Need.ACCOUNT,
    ("GET", "/api/auth/me"): Need.ACCOUNT,
    ("POST", "/api/auth/password"): Need.ACCOUNT,
    ("DELETE", "/api/auth/sessions"): Need.ACCOUNT,
    ("GET", "/api/auth/tokens"): Need.ACCOUNT,
    ("POST", "/api/auth/tokens"): Need.ACCOUNT,
    ("DELETE", "/api/auth/tokens/{token_id}"): Need.ACCOUNT,
    ("POST", "/api/auth/xmpp-link"): Need.ACCOUNT,
    ("DELETE", "/api/auth/xmpp-link"): Need.ACCOUNT,
    # administration
    ("GET", "/api/users"): Need.ADMIN,
    ("POST", "/api/users"): Need.ADMIN,
    ("PATCH", "/api/users/{name}"): Need.ADMIN,
    ("POST", "/api/invites"): Need.ADMIN,
    ("GET", "/api/bots"): Need.ACCOUNT,
    ("POST", "/api/bots"): Need.ACCOUNT,
    ("DELETE", "/api/bots/{name}"): Need.ACCOUNT,
    # documents
    ("POST", "/api/documents"): Need.ACCOUNT,
    ("GET", "/api/documents"): Need.ACCOUNT,
    ("POST", "/api/imports"): Need.ACCOUNT,
    ("GET", "/api/documents/{doc_id}"): Need.VIEW,
    ("PATCH", "/api/documents/{doc_id}"): Need.OWN,
    ("DELETE", "/api/documents/{doc_id}"): Need.OWN,
    ("GET", "/api/documents/{doc_id}/text"): Need.VIEW,
    ("GET", "/api/documents/{doc_id}/export"): Need.VIEW,
    ("GET", "/api/documents/{doc_id}/revisions"): Need.VIEW,
    ("GET", "/api/documents/{doc_id}/revisions/{rev}"): Need.VIEW,
    ("GET", "/api/documents/{doc_id}/diff"): Need.VIEW,
    ("GET", "/api/documents/{doc_id}/blame"): Need.VIEW,
    ("POST", "/api/documents/{doc_id}/restore"): Need.EDIT,
    ("GET", "/api/documents/{doc_id}/versions"): Need.VIEW,
    ("POST", "/api/documents/{doc_id}/versions"): Need.EDIT,
    ("DELETE", "/api/documents/{doc_id}/versions/{name}"): Need.EDIT,
    # sharing
    ("GET", "/api/documents/{doc_id}/sharing"): Need.VIEW,
    ("PUT", "/api/documents/{doc_id}/sharing/{name}"): Need.OWN,
    ("DELETE", "/api/documents/{doc_id}/sharing/{name}"): Need.OWN,
    ("POST", "/api/documents/{doc_id}/links"): Need.OWN,
    ("DELETE", "/api/documents/{doc_id}/links/{role}"): Need.OWN,
}


def unauthenticated() -> Refused:
    return Refused("sign in first (or use a share link)", Refusal.UNAUTHENTICATED)


def forbidden(message: str) -> Refused:
    return Refused(message, Refusal.FORBIDDEN)


# Re-reads a principal's credentials (session, token, account, links): None if they no
# longer hold. Provided by the identity service.
Refresher = Callable[[Principal], Awaitable[Principal]]


@dataclass(slots=True)
class _Connection:
    principal: Principal
    role: Role
    author: str


@dataclass(slots=True)
class _Watched:
    by_member: dict[Member, _Connection] = field(default_factory=dict)


class Access:
    """The decisions, the sharing changes that alter them, and the watch over connections."""

    def __init__(self, settings: Settings, store: DocumentStore, accounts: AccountStore) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.enabled = settings.auth == "on"
        self.refresh: Refresher | None = None
        self._watched: dict[str, _Watched] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # Told the document whose members changed (the bus mirrors them onto its nodes).
        self.listeners: list[Callable[[str], None]] = []

    # -- decisions ----------------------------------------------------------------------

    async def role_on(self, principal: Principal, doc_id: str) -> Role | None:
        """The caller's role on ``doc_id`` (None: no access). Does not check it exists."""
        if principal.admin:
            return Role.OWNER
        roles: list[Role] = []
        if principal.account is not None:
            granted = await self.accounts.role_of(doc_id, principal.account.name)
            if granted is not None:
                roles.append(granted)
        linked = principal.link_role(doc_id)
        if linked is not None:
            roles.append(linked)
        legacy = self.settings.legacy_access
        if legacy != "none" and await self.accounts.owner_of(doc_id) is None:
            roles.append(Role.EDITOR if legacy == "edit" else Role.VIEWER)
        return max(roles, key=lambda r: r.rank) if roles else None

    async def require(self, principal: Principal, need: Need, doc_id: str | None) -> Role | None:
        """Raise ``Refused`` (401 or 403) or ``DocumentNotFound`` unless ``principal`` may do
        what ``need`` says; the role it has on the document, if one was asked about."""
        if need is Need.PUBLIC or principal.kind is Kind.OPEN:
            return Role.OWNER if doc_id is not None else None
        if need is Need.ACCOUNT:
            if not principal.signed_in:
                raise unauthenticated()
            return None
        if need is Need.ADMIN:
            if not principal.signed_in:
                raise unauthenticated()
            if not principal.admin:
                raise forbidden("only administrators may do this")
            return None
        if doc_id is None:  # a document route whose path did not name one: a bug of ours
            raise forbidden("this route names no document")
        role = await self.role_on(principal, doc_id)
        needed = NEED_ROLE[need]
        if role is None:
            if principal.kind is Kind.ANONYMOUS:
                raise unauthenticated()
            await self.store.get(doc_id)  # DocumentNotFound when there is nothing to refuse
            raise forbidden(f"you have no access to document '{doc_id}'")
        if not role.allows(needed):
            raise forbidden(
                f"this needs the {needed.value} role on '{doc_id}'; you are {role.value}"
            )
        return role

    async def visible_ids(self, principal: Principal) -> list[str] | None:
        """The documents a listing may show (None: all of them)."""
        if principal.admin:
            return None
        ids = set(await self.accounts.documents_of(principal.name)) if principal.name else set()
        return sorted(ids | {link.doc_id for link in principal.links})

    def author(self, principal: Principal, chosen: str) -> str:
        """The name a revision is written under: an account's own name, never one it chose;
        a guest's chosen name, marked as a guest's (no account name has spaces)."""
        if principal.account is not None:
            return principal.account.name
        if principal.kind is Kind.GUEST:
            return f"{chosen} (guest)"
        return chosen

    def display_name(self, principal: Principal, chosen: str) -> str:
        if principal.account is not None:
            return principal.account.display_name
        return self.author(principal, chosen)

    # -- changes to roles ---------------------------------------------------------------

    async def share(self, doc_id: str, name: str, role: Role | None) -> None:
        """Give ``name`` a role on the document (not ownership), or take it away."""
        if role is Role.OWNER:
            raise forbidden("a document has one owner; share as editor or viewer")
        if await self.accounts.owner_of(doc_id) == name:
            raise forbidden("the owner's role cannot be changed")
        await self.accounts.set_role(doc_id, name, role)
        self.members_changed(doc_id)
        await self.recheck(doc_id)

    def members_changed(self, doc_id: str) -> None:
        for listener in self.listeners:
            listener(doc_id)

    async def account_changed(self, name: str) -> None:
        """``name`` was disabled, enabled, removed or given another XMPP identity: every
        document it has a role on follows, and every document its bots have one on (a bot
        acts for its owner, and loses its roles while the owner is disabled)."""
        doc_ids = set(await self.accounts.documents_of(name))
        for bot in await self.accounts.bots_of(name):
            doc_ids.update(await self.accounts.documents_of(bot.name))
        for doc_id in sorted(doc_ids):
            self.members_changed(doc_id)

    async def bus_members(self, doc_id: str) -> dict[str, BusMember]:
        """The XMPP identities with a role on ``doc_id`` (bare JID -> member): the accounts
        granted one that name an identity and are not disabled (nor bots whose owner is).
        Share links and the administrators' powers stay in the app: they have no XMPP
        identity to give."""
        members: dict[str, BusMember] = {}
        for grant in await self.accounts.grants_of(doc_id):
            account = await self.accounts.get_account(grant.account)
            if account is None or account.disabled or not account.xmpp_jid:
                continue
            if account.bot:
                # A bot acts for its owner: not while the owner is disabled (or removed).
                owner = await self.accounts.get_account(account.bot_owner)
                if owner is None or owner.disabled:
                    continue
            members[account.xmpp_jid] = BusMember(account.name, grant.role.value)
        return members

    async def recheck(self, doc_id: str | None = None) -> None:
        """Check the connections to ``doc_id`` (or to every document) against their access
        now; close those that lost it, make read-only those made viewers."""
        doc_ids = [doc_id] if doc_id is not None else list(self._watched)
        # One person usually has several connections (tabs, documents): their credentials
        # are read once per pass, and their role once per document.
        refreshed: dict[Principal, Principal] = {}
        roles: dict[tuple[Principal, str], Role | None] = {}
        for each in doc_ids:
            watched = self._watched.get(each)
            if watched is None:
                continue
            for member, connection in list(watched.by_member.items()):
                principal = connection.principal
                if self.refresh is not None:
                    if principal not in refreshed:
                        refreshed[principal] = await self.refresh(principal)
                    principal = refreshed[principal]
                if (principal, each) not in roles:
                    roles[(principal, each)] = await self.role_on(principal, each)
                role = roles[(principal, each)]
                if role is None:
                    log.info("closing %s on %s: access revoked", member.person.session, each)
                    watched.by_member.pop(member, None)
                    await member.stop(CLOSE_FORBIDDEN, "your access to this document was revoked")
                else:
                    connection.principal, connection.role = principal, role

    # -- connections --------------------------------------------------------------------

    async def admit(self, principal: Principal, doc_id: str) -> Role:
        """The role a WebSocket to ``doc_id`` joins with; ``Refused`` before it is accepted.
        (A document that does not exist is refused as forbidden, unless the caller could
        see it anyway: an administrator then learns it is missing, 4404.)"""
        role = await self.role_on(principal, doc_id)
        if role is None:
            if principal.kind is Kind.ANONYMOUS:
                raise unauthenticated()
            raise forbidden(f"you have no access to document '{doc_id}'")
        return role

    async def check_client(
        self, doc_id: str, client: str, author: str, members: Iterable[Member]
    ) -> None:
        """A client id belongs to the author who first used it on this document: another
        connection presenting it (to take over its sequence numbers, and have its edits
        acknowledged as someone else's) is refused."""
        if not self.enabled:
            return
        watched = self._watched.get(doc_id)
        for member in members:
            connection = watched.by_member.get(member) if watched else None
            if member.person.client == client and connection and connection.author != author:
                raise forbidden(f"the client id '{client}' is in use by another connection")
        last = await self.store.last_seq(doc_id, client)
        if last:
            revision = await self.store.find_operation(doc_id, OpId(client, last))
            if revision is not None and revision.author != author:
                raise forbidden(f"the client id '{client}' belongs to another author")

    def watch(
        self, doc_id: str, member: Member, principal: Principal, role: Role, author: str
    ) -> None:
        self._watched.setdefault(doc_id, _Watched()).by_member[member] = _Connection(
            principal, role, author
        )

    def author_of(self, doc_id: str, member: Member) -> str:
        """Whose name ``member``'s edits are written under (fixed when it joined)."""
        watched = self._watched.get(doc_id)
        connection = watched.by_member.get(member) if watched else None
        return connection.author if connection else member.person.name

    def keeps_name(self, doc_id: str, member: Member) -> bool:
        """Whether ``member`` shows an account's name, which presence may not change."""
        watched = self._watched.get(doc_id)
        connection = watched.by_member.get(member) if watched else None
        return connection is not None and connection.principal.account is not None

    def unwatch(self, doc_id: str, member: Member) -> None:
        watched = self._watched.get(doc_id)
        if watched is not None:
            watched.by_member.pop(member, None)
            if not watched.by_member:
                del self._watched[doc_id]

    def role_of_member(self, doc_id: str, member: Member) -> Role | None:
        if not self.enabled:
            return Role.OWNER
        watched = self._watched.get(doc_id)
        connection = watched.by_member.get(member) if watched else None
        return connection.role if connection else None

    def may_edit(self, doc_id: str, member: Member) -> bool:
        role = self.role_of_member(doc_id, member)
        return role is not None and role.allows(Role.EDITOR)

    async def forget_document(self, doc_id: str) -> None:
        self._watched.pop(doc_id, None)
        await self.accounts.forget_document(doc_id)

    def start(self) -> None:
        if self.enabled and self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.access_recheck_seconds)
            try:
                await self.recheck()
            except Exception:  # a database hiccup must not end the watch
                log.exception("checking open connections' access failed")
