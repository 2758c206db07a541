"""People and what they hold: accounts, browser sessions, API tokens, invitations, and each
document's roles and share links. ``AccountStore`` is what the core needs from storage for
them; the adapters are ``app/stores/memory_accounts.py`` and ``app/stores/sql/accounts.py``,
and one contract suite (``tests/app/stores/test_accounts_contract.py``) runs against both.

Secrets (session ids, API tokens, link tokens, invitations) are stored only as SHA-256
digests: a copy of the database lets nobody in. Passwords are Argon2id hashes.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.core.errors import AppError

# An account's name: its stable identity in shares, revisions and URLs. Lower case so that
# "Ann" and "ann" cannot be two people; no spaces or brackets, so that no guest's label
# ("Ann (guest)") and no account name can ever be the same string.
ACCOUNT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,31}$"
_ACCOUNT_NAME = re.compile(ACCOUNT_NAME_PATTERN)


class AccountExists(AppError):
    code = "account-exists"


class AccountNotFound(AppError):
    code = "account-not-found"


class TokenNotFound(AppError):
    code = "token-not-found"


class Role(enum.Enum):
    """What someone may do with one document; each includes the ones below it."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}

# Links give at most editing: owning is never shared by a link.
LINK_ROLES = (Role.VIEWER, Role.EDITOR)


def valid_account_name(name: str) -> bool:
    return _ACCOUNT_NAME.fullmatch(name) is not None


def digest(secret: str) -> str:
    """What is stored for a secret: its SHA-256, hex (secrets are random, so no salt is
    needed, and the lookup stays an index seek)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    display_name: str
    password_hash: str  # Argon2id; empty for accounts that only sign in through the proxy
    admin: bool
    disabled: bool
    created_at: datetime
    # The bare JID whose pubsub affiliations follow this account's roles ("" for none): a
    # person's own XMPP account, or a bot's.
    xmpp_jid: str = ""
    bot_owner: str = ""  # set for bots: the person who made it, and who may remove it

    @property
    def bot(self) -> bool:
        return bool(self.bot_owner)


@dataclass(frozen=True, slots=True)
class BrowserSession:
    id_hash: str
    account: str
    csrf: str  # sent back in X-CSRF-Token by the page on every unsafe request
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str  # public: names the token in lists and in `DELETE /api/auth/tokens/{id}`
    account: str
    name: str
    token_hash: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Invite:
    code_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AddressClaim:
    """A person's claim to an XMPP address, proven by sending the code from it
    (app/core/xmpp_links.py). One per account: a new one replaces it."""

    code_hash: str
    account: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    doc_id: str
    account: str
    role: Role


@dataclass(frozen=True, slots=True)
class ShareLink:
    doc_id: str
    role: Role
    token_hash: str
    created_at: datetime


class AccountStore(Protocol):
    """Durable accounts and permissions."""

    # -- accounts -----------------------------------------------------------------------

    async def create_account(self, account: Account) -> None:
        """``AccountExists`` if the name is taken."""

    async def get_account(self, name: str) -> Account | None: ...

    async def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""

    async def update_account(
        self,
        name: str,
        *,
        display_name: str | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
        admin: bool | None = None,
        xmpp_jid: str | None = None,
    ) -> Account:
        """``AccountNotFound`` for an unknown name; ``AccountExists`` when ``xmpp_jid`` is
        another account's ("" clears it)."""

    async def account_by_jid(self, jid: str) -> Account | None:
        """The account whose XMPP identity is the bare JID ``jid``."""

    async def bots_of(self, owner: str) -> list[Account]:
        """The bots ``owner`` made, by name."""

    async def delete_account(self, name: str) -> bool:
        """Remove an account with its sessions, tokens and roles (bots are removed so)."""

    async def first_admin(self) -> str | None:
        """The oldest administrator's name: the owner of documents from before accounts."""

    # -- browser sessions ---------------------------------------------------------------

    async def add_session(self, session: BrowserSession) -> None: ...

    async def get_session(self, id_hash: str) -> BrowserSession | None: ...

    async def delete_session(self, id_hash: str) -> None: ...

    async def delete_sessions(self, account: str) -> int:
        """Sign ``account`` out everywhere; how many sessions there were."""

    # -- API tokens ---------------------------------------------------------------------

    async def add_token(self, token: ApiToken) -> None: ...

    async def token_by_hash(self, token_hash: str) -> ApiToken | None: ...

    async def list_tokens(self, account: str) -> list[ApiToken]:
        """Oldest first."""

    async def delete_token(self, account: str, token_id: str) -> bool:
        """Whether ``account`` had that token."""

    # -- invitations --------------------------------------------------------------------

    async def add_invite(self, invite: Invite) -> None: ...

    async def take_invite(self, code_hash: str, now: datetime) -> bool:
        """Use an invitation up: true once for a valid, unexpired code, then never again."""

    # -- XMPP address claims --------------------------------------------------------------

    async def add_address_claim(self, claim: AddressClaim) -> None:
        """Keep ``claim``, replacing the account's earlier one."""

    async def redeem_address_claim(self, code_hash: str, jid: str, now: datetime) -> str | None:
        """Use a claim up: give its account the bare JID ``jid`` and return the account's
        name, once, for a valid unexpired code; None for any other. In one transaction, so
        that of two instances hearing the same message one links and the other then finds
        the address linked. ``AccountExists`` if ``jid`` is another account's (the claim
        stays, for the right address)."""

    # -- documents' roles and links -----------------------------------------------------

    async def set_role(self, doc_id: str, account: str, role: Role | None) -> None:
        """Give ``account`` ``role`` on ``doc_id`` (replacing any), or take it away (None)."""

    async def role_of(self, doc_id: str, account: str) -> Role | None: ...

    async def grants_of(self, doc_id: str) -> list[Grant]:
        """Everyone with a role on ``doc_id``, by name."""

    async def owner_of(self, doc_id: str) -> str | None: ...

    async def documents_of(self, account: str) -> list[str]:
        """The ids of the documents ``account`` has any role on."""

    async def set_link(self, link: ShareLink) -> None:
        """The document's link for ``link.role``, replacing (so revoking) the one before."""

    async def link_by_hash(self, token_hash: str) -> ShareLink | None: ...

    async def links_of(self, doc_id: str) -> list[ShareLink]: ...

    async def delete_link(self, doc_id: str, role: Role) -> bool: ...

    async def forget_document(self, doc_id: str) -> None:
        """Drop every role and link on a deleted document."""


def sorted_grants(grants: Sequence[Grant]) -> list[Grant]:
    """Owner first, then by role and name: the order every adapter answers in."""
    return sorted(grants, key=lambda g: (-g.role.rank, g.account))
