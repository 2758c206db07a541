"""Bots: accounts that a person makes and owns, and that act through an XMPP identity.

A bot is an account like any other in the access rules (documents are shared with it by
name, with a role), except that it never signs in to the app: it is an XMPP client, and the
document nodes admit its JID as its roles allow (app/buses/xmpp/affiliations.py). Its owner
lists it, shares documents with it and removes it; administrators may remove any.

Its XMPP account is registered on the managed XMPP server when the app runs one
(``Registrar``); on an external server the operator makes the account and gives its JID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from app.core.access import Access, Need, Principal, forbidden
from app.core.accounts import Account, AccountExists, AccountNotFound, Role, valid_account_name
from app.core.errors import BadRequest

# A bare JID, as bots' identities are written here: ASCII, lower case (what nodeprep and
# nameprep make of it), no resource. Other JIDs exist; these are the ones we take.
_BARE_JID = re.compile(r"[a-z0-9._+-]{1,64}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){0,7}")
MAX_BOT_DOCUMENTS = 100


def valid_jid(jid: str) -> bool:
    return len(jid) <= 255 and _BARE_JID.fullmatch(jid) is not None


class Registrar(Protocol):
    """Accounts on the XMPP server the app runs."""

    @property
    def domain(self) -> str: ...

    async def register(self, name: str) -> tuple[str, str]:
        """Create (or keep) ``name``'s account: its bare JID and its password."""

    async def unregister(self, name: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NewBot:
    account: Account
    password: str  # "" when the account is on an external server (its owner knows it)
    documents: dict[str, Role]


class BotService:
    def __init__(
        self,
        access: Access,
        registrar: Registrar | None,
        reserved: frozenset[str] = frozenset(),
        where: tuple[str, int, str] = ("", 0, ""),
    ) -> None:
        self.access = access
        self.accounts = access.accounts
        self.registrar = registrar
        self.where = where  # the XMPP server bots connect to: host, port, pubsub service
        # Local parts the app's own XMPP accounts use: a bot must never take one over.
        self.reserved = reserved

    async def create(
        self,
        owner: Principal,
        name: str,
        *,
        display_name: str = "",
        jid: str = "",
        documents: Mapping[str, Role] | None = None,
    ) -> NewBot:
        """A bot owned by ``owner`` with roles on ``documents`` (which ``owner`` must own)."""
        if owner.account is None:
            raise forbidden("only a signed-in person can own a bot")
        if not valid_account_name(name):
            raise BadRequest(f"'{name}' is not a valid bot name (a-z, 0-9, '.', '_', '-')")
        wanted = dict(documents or {})
        if len(wanted) > MAX_BOT_DOCUMENTS:
            raise BadRequest(f"at most {MAX_BOT_DOCUMENTS} documents at once")
        for doc_id, role in wanted.items():
            if role is Role.OWNER:
                raise BadRequest("a bot can be an editor or a viewer, not an owner")
            await self.access.require(owner, Need.OWN, doc_id)
        if await self.accounts.get_account(name) is not None:
            raise AccountExists(f"the name '{name}' is taken")
        password = ""
        if jid:
            jid = jid.lower()
            if not valid_jid(jid):
                raise BadRequest(f"'{jid}' is not a bare JID (name@domain)")
            if await self.accounts.account_by_jid(jid) is not None:
                raise AccountExists(f"the XMPP address '{jid}' is another account's")
        elif self.registrar is None:
            raise BadRequest(
                "this server does not run its own XMPP server (COLLAB_XMPP_MODE is not "
                "managed): create the bot's account on your XMPP server and give its jid"
            )
        elif name in self.reserved:
            raise BadRequest(f"'{name}' is the app's own XMPP account: choose another name")
        else:
            if await self.accounts.account_by_jid(f"{name}@{self.registrar.domain}"):
                raise AccountExists(f"the XMPP address {name}@{self.registrar.domain} is taken")
            jid, password = await self.registrar.register(name)
        account = Account(
            name,
            display_name or name,
            "",  # never signs in to the app
            admin=False,
            disabled=False,
            created_at=datetime.now(UTC),
            xmpp_jid=jid,
            bot_owner=owner.account.name,
        )
        await self.accounts.create_account(account)
        for doc_id, role in wanted.items():
            await self.access.share(doc_id, name, role)
        return NewBot(account, password, wanted)

    async def of(self, owner: Principal) -> list[tuple[Account, dict[str, Role]]]:
        """``owner``'s bots (every bot, for an administrator) with their roles."""
        if owner.account is None:
            return []
        if owner.admin:
            bots = [a for a in await self.accounts.list_accounts() if a.bot]
        else:
            bots = await self.accounts.bots_of(owner.account.name)
        return [(bot, await self._roles(bot.name)) for bot in bots]

    async def remove(self, owner: Principal, name: str) -> None:
        bot = await self.accounts.get_account(name)
        if bot is None or not bot.bot:
            raise AccountNotFound(f"no bot named '{name}'")
        if not owner.admin and (owner.account is None or owner.account.name != bot.bot_owner):
            raise forbidden(f"'{name}' is {bot.bot_owner}'s bot")
        documents = await self.accounts.documents_of(name)
        await self.accounts.delete_account(name)
        for doc_id in documents:
            self.access.members_changed(doc_id)
        if self.registrar is not None and bot.xmpp_jid == f"{name}@{self.registrar.domain}":
            await self.registrar.unregister(name)

    async def _roles(self, name: str) -> dict[str, Role]:
        roles: dict[str, Role] = {}
        for doc_id in await self.accounts.documents_of(name):
            role = await self.accounts.role_of(doc_id, name)
            if role is not None:
                roles[doc_id] = role
        return roles
