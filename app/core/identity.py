"""Accounts and credentials: creating people, signing in and out, API tokens, invitations,
share links, and turning what a request carries into a ``Principal``.

Credentials, in the order they are looked at:

    proxy header   COLLAB_PROXY_AUTH_HEADER, believed only from COLLAB_TRUSTED_PROXIES
    bearer token   Authorization: Bearer collab_...   (API tokens: the CLI, scripts, bots)
    session cookie collab_session (browsers; unsafe requests also need X-CSRF-Token)
    share links    the collab_links cookie and the X-Collab-Link header (guests)

An API token that is present but wrong (unknown, revoked, expired) is refused with 401 rather
than ignored, so a script never silently runs as nobody. A session cookie that names an ended
session is ignored: the browser is simply not signed in any more.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.config import Settings
from app.core.access import ANONYMOUS, OPEN, Access, Kind, Principal, forbidden, unauthenticated
from app.core.accounts import (
    LINK_ROLES,
    Account,
    AccountExists,
    AccountNotFound,
    AccountStore,
    ApiToken,
    BrowserSession,
    Invite,
    Role,
    ShareLink,
    digest,
    valid_account_name,
)
from app.core.errors import InvalidInput, Refusal, Refused
from app.core.store import now
from app.core.windows import SlidingWindow
from sync.text import validate_text

SESSION_COOKIE = "collab_session"
CSRF_COOKIE = "collab_csrf"
LINKS_COOKIE = "collab_links"
CSRF_HEADER = "x-csrf-token"
LINK_HEADER = "x-collab-link"
TOKEN_PREFIX = "collab_"
MAX_LINKS_KEPT = 20  # share links one browser remembers (a cookie holds about 4 KB)
MAX_DISPLAY_NAME = 64
LOGIN_FAILURES_ALLOWED = 10  # per name and client address, within the window below
LOGIN_WINDOW_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class NewSession:
    secret: str  # the cookie's value: shown to the browser once, stored only as a digest
    session: BrowserSession


def cookies(headers: Mapping[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class Identity:
    def __init__(self, settings: Settings, accounts: AccountStore, access: Access) -> None:
        self.settings = settings
        self.accounts = accounts
        self.access = access
        self.hasher = PasswordHasher()
        self._setup_lock = asyncio.Lock()
        # Failed sign-ins per (name, client address), to slow down guessing: in memory, per
        # process (a proxy in front can limit across instances).
        self._failures: SlidingWindow[tuple[str, str]] = SlidingWindow(
            LOGIN_FAILURES_ALLOWED, LOGIN_WINDOW_SECONDS
        )
        access.refresh = self.refresh

    # -- passwords ----------------------------------------------------------------------

    def check_password(self, password: str) -> None:
        least = self.settings.min_password_chars
        if len(password) < least:
            raise InvalidInput(f"a password needs at least {least} characters")
        if len(password) > 1024:
            raise InvalidInput("a password has at most 1024 characters")

    async def _hash(self, password: str) -> str:
        # Argon2 takes tens of milliseconds of CPU on purpose: off the event loop.
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, account: Account | None, password: str) -> bool:
        stored = account.password_hash if account else ""
        if not stored:
            # Spend the same time on an unknown name, so timing does not tell names apart.
            await asyncio.to_thread(self._burn, password)
            return False
        try:
            return await asyncio.to_thread(self.hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _burn(self, password: str) -> None:
        self.hasher.hash(password)

    # -- accounts -----------------------------------------------------------------------

    async def setup_needed(self) -> bool:
        return self.access.enabled and not await self.accounts.list_accounts()

    async def create_account(
        self, name: str, display_name: str, password: str | None, *, admin: bool = False
    ) -> Account:
        if not valid_account_name(name):
            raise InvalidInput(
                f"'{name}' cannot be an account name: 1-32 lower-case letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        display_name = (display_name or name).strip()
        validate_text(display_name, what="display name")
        if not display_name or len(display_name) > MAX_DISPLAY_NAME:
            raise InvalidInput(f"a display name has 1 to {MAX_DISPLAY_NAME} characters")
        if password is not None:
            self.check_password(password)
        account = Account(
            name=name,
            display_name=display_name,
            password_hash=await self._hash(password) if password is not None else "",
            admin=admin,
            disabled=False,
            created_at=now(),
        )
        await self.accounts.create_account(account)
        return account

    async def setup(self, name: str, display_name: str, password: str) -> Account:
        """The first administrator, on a fresh installation; refused once anyone exists."""
        async with self._setup_lock:
            if await self.accounts.list_accounts():
                raise forbidden("this installation has an administrator already; sign in")
            return await self.create_account(name, display_name, password, admin=True)

    async def register(
        self, name: str, display_name: str, password: str, invite: str | None
    ) -> Account:
        mode = self.settings.registration
        if mode == "closed":
            raise forbidden("registration is closed: ask an administrator for an account")
        if mode == "invite" and not (
            invite and await self.accounts.take_invite(digest(invite), now())
        ):
            raise forbidden("registration needs a valid invitation code")
        return await self.create_account(name, display_name, password)

    async def invite(self, by: Account, days: float = 7.0) -> str:
        code = secrets.token_urlsafe(18)
        stamp = now()
        await self.accounts.add_invite(
            Invite(digest(code), by.name, stamp, stamp + timedelta(days=days))
        )
        return code

    async def set_password(self, name: str, password: str) -> None:
        """An operator's reset: the new password, and every session of the account ends."""
        self.check_password(password)
        await self.accounts.update_account(name, password_hash=await self._hash(password))
        await self.accounts.delete_sessions(name)
        await self.access.recheck()

    async def set_disabled(self, name: str, disabled: bool) -> Account:
        account = await self.accounts.update_account(name, disabled=disabled)
        if disabled:
            await self.accounts.delete_sessions(name)
            await self.access.recheck()
        await self.access.account_changed(name)  # its XMPP identity follows
        return account

    # -- sessions -----------------------------------------------------------------------

    async def login(self, name: str, password: str, client: str | None = None) -> NewSession:
        name = name.strip().lower()
        key = (name, client or "")
        wait = self._failures.wait(key)
        if wait:
            raise Refused(
                f"too many failed sign-ins for '{name}' from here; try again in {int(wait) + 1} s",
                Refusal.RATE_LIMITED,
            )
        account = await self.accounts.get_account(name)
        if not await self._verify(account, password) or account is None:
            self._failures.count(key)
            raise Refused("wrong name or password", Refusal.UNAUTHENTICATED, code="bad-credentials")
        self._failures.forget(key)
        if account.disabled:
            raise forbidden(f"the account '{account.name}' is disabled")
        if self.hasher.check_needs_rehash(account.password_hash):
            await self.accounts.update_account(
                account.name, password_hash=await self._hash(password)
            )
        return await self.start_session(account)

    async def start_session(self, account: Account) -> NewSession:
        secret = secrets.token_urlsafe(32)
        stamp = now()
        session = BrowserSession(
            id_hash=digest(secret),
            account=account.name,
            csrf=secrets.token_urlsafe(24),
            created_at=stamp,
            expires_at=stamp + timedelta(days=self.settings.session_days),
        )
        await self.accounts.add_session(session)
        return NewSession(secret, session)

    async def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            await self.accounts.delete_session(principal.session.id_hash)
            await self.access.recheck()

    async def logout_everywhere(self, account: Account) -> int:
        count = await self.accounts.delete_sessions(account.name)
        await self.access.recheck()
        return count

    async def change_password(self, principal: Principal, old: str, new: str) -> NewSession:
        """A new password; every session ends (this one too): the new session is returned."""
        account = principal.account
        if account is None:
            raise unauthenticated()
        if not await self._verify(account, old):
            raise Refused(
                "the current password is wrong", Refusal.FORBIDDEN, code="bad-credentials"
            )
        await self.set_password(account.name, new)
        return await self.start_session(account)

    # -- API tokens ---------------------------------------------------------------------

    async def create_token(
        self, account: Account, name: str, days: float | None
    ) -> tuple[str, ApiToken]:
        validate_text(name, what="token name")
        if not name.strip() or len(name) > 64:
            raise InvalidInput("a token's name has 1 to 64 characters")
        token_id = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        stamp = now()
        token = ApiToken(
            id=token_id,
            account=account.name,
            name=name.strip(),
            token_hash=digest(secret),
            created_at=stamp,
            expires_at=stamp + timedelta(days=days) if days else None,
        )
        await self.accounts.add_token(token)
        return secret, token

    async def revoke_token(self, account: Account, token_id: str) -> bool:
        found = await self.accounts.delete_token(account.name, token_id)
        if found:
            await self.access.recheck()
        return found

    # -- share links --------------------------------------------------------------------

    async def create_link(self, doc_id: str, role: Role) -> str:
        """A new link for ``role`` (the old one stops working); its token, shown once."""
        if role not in LINK_ROLES:
            raise InvalidInput("a link gives the viewer or the editor role")
        token = secrets.token_urlsafe(24)
        await self.accounts.set_link(ShareLink(doc_id, role, digest(token), now()))
        await self.access.recheck(doc_id)
        return token

    async def revoke_link(self, doc_id: str, role: Role) -> bool:
        found = await self.accounts.delete_link(doc_id, role)
        await self.access.recheck(doc_id)
        return found

    # -- who is asking ------------------------------------------------------------------

    async def resolve(
        self, headers: Mapping[str, str], client_host: str | None, link: str | None = None
    ) -> Principal:
        """Who sent a request with these headers (``link``: a share token from the URL)."""
        if not self.access.enabled:
            return OPEN
        principal = await self._account_principal(headers, client_host)
        links = await self._links(headers, link)
        if principal is None:
            return Principal(Kind.GUEST, links=links, via="link") if links else ANONYMOUS
        return replace(principal, links=links)

    async def _account_principal(
        self, headers: Mapping[str, str], client_host: str | None
    ) -> Principal | None:
        header = self.settings.proxy_auth_header.lower()
        if header and client_host in self.settings.items(self.settings.trusted_proxies):
            name = headers.get(header, "").strip().lower()
            if name:
                return Principal(Kind.ACCOUNT, await self._proxy_account(name), via="proxy")
        token = bearer(headers)
        if token is not None:
            return await self._token_principal(token)
        secret = cookies(headers).get(SESSION_COOKIE)
        if secret:
            return await self._session_principal(digest(secret))
        return None

    async def _proxy_account(self, name: str) -> Account:
        account = await self.accounts.get_account(name)
        if account is None:
            if not self.settings.proxy_auth_create:
                raise forbidden(f"the proxy names '{name}', who has no account here")
            try:
                account = await self.create_account(name, name, None)
            except AccountExists:  # made by a request racing this one
                account = await self.accounts.get_account(name)
                assert account is not None
        if account.disabled:
            raise forbidden(f"the account '{name}' is disabled")
        return account

    async def _token_principal(self, token: str) -> Principal:
        found = await self.accounts.token_by_hash(digest(token))
        if found is None or (found.expires_at is not None and found.expires_at <= now()):
            raise Refused("this API token is unknown, revoked or expired", Refusal.UNAUTHENTICATED)
        account = await self._active(found.account)
        return Principal(Kind.ACCOUNT, account, via="token", token_hash=found.token_hash)

    async def _session_principal(self, id_hash: str) -> Principal | None:
        # An ended session is no one, not an error: the sign-in page must still open.
        session = await self.accounts.get_session(id_hash)
        if session is None or session.expires_at <= now():
            return None
        account = await self.accounts.get_account(session.account)
        if account is None or account.disabled:
            return None
        return Principal(Kind.ACCOUNT, account, via="session", session=session)

    async def _active(self, name: str) -> Account:
        account = await self.accounts.get_account(name)
        if account is None or account.disabled:
            raise Refused(f"the account '{name}' is disabled", Refusal.UNAUTHENTICATED)
        return account

    async def _links(self, headers: Mapping[str, str], link: str | None) -> tuple[ShareLink, ...]:
        presented = cookies(headers).get(LINKS_COOKIE, "").split(".")
        presented += [headers.get(LINK_HEADER, ""), link or ""]
        found: list[ShareLink] = []
        for token in list(dict.fromkeys(t for t in presented if t))[:MAX_LINKS_KEPT]:
            share = await self.accounts.link_by_hash(digest(token))
            if share is not None:
                found.append(share)
        return tuple(found)

    async def refresh(self, principal: Principal) -> Principal:
        """The same credentials read again: what a revoked session, token, disabled account
        or replaced link leaves of them."""
        if principal.kind is Kind.OPEN:
            return principal
        links = []
        for link in principal.links:
            current = await self.accounts.link_by_hash(link.token_hash)
            if current is not None:
                links.append(current)
        account: Account | None = None
        if principal.account is not None:
            account = await self.accounts.get_account(principal.account.name)
            if account is not None and account.disabled:
                account = None
            if principal.session is not None:
                session = await self.accounts.get_session(principal.session.id_hash)
                if session is None or session.expires_at <= now():
                    account = None
            if principal.token_hash:
                token = await self.accounts.token_by_hash(principal.token_hash)
                if token is None or (token.expires_at is not None and token.expires_at <= now()):
                    account = None
        if account is not None:
            return replace(principal, account=account, links=tuple(links))
        if links:
            return Principal(Kind.GUEST, links=tuple(links), via="link")
        return ANONYMOUS

    async def account_named(self, name: str) -> Account:
        account = await self.accounts.get_account(name)
        if account is None:
            raise AccountNotFound(f"no account named '{name}'")
        return account
