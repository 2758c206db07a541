"""An ``AccountStore`` in memory, beside ``MemoryStore`` (tests, ``memory://``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.core.accounts import (
    Account,
    AccountExists,
    AccountNotFound,
    AddressClaim,
    ApiToken,
    BrowserSession,
    Grant,
    Invite,
    Role,
    ShareLink,
    sorted_grants,
)


class MemoryAccountStore:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._sessions: dict[str, BrowserSession] = {}
        self._tokens: dict[str, ApiToken] = {}  # by hash
        self._invites: dict[str, Invite] = {}
        self._claims: dict[str, AddressClaim] = {}
        self._roles: dict[tuple[str, str], Role] = {}  # (doc_id, account)
        self._links: dict[tuple[str, Role], ShareLink] = {}

    async def create_account(self, account: Account) -> None:
        if account.name in self._accounts:
            raise AccountExists(f"the name '{account.name}' is taken")
        self._accounts[account.name] = account

    async def get_account(self, name: str) -> Account | None:
        return self._accounts.get(name)

    async def list_accounts(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda a: (a.created_at, a.name))

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
        account = self._accounts.get(name)
        if account is None:
            raise AccountNotFound(f"no account named '{name}'")
        if xmpp_jid:
            holder = await self.account_by_jid(xmpp_jid)
            if holder is not None and holder.name != name:
                raise AccountExists(f"the XMPP address '{xmpp_jid}' is another account's")
        if xmpp_jid is not None:
            account = replace(account, xmpp_jid=xmpp_jid)
        if display_name is not None:
            account = replace(account, display_name=display_name)
        if password_hash is not None:
            account = replace(account, password_hash=password_hash)
        if disabled is not None:
            account = replace(account, disabled=disabled)
        if admin is not None:
            account = replace(account, admin=admin)
        self._accounts[name] = account
        return account

    async def account_by_jid(self, jid: str) -> Account | None:
        if not jid:
            return None
        return next((a for a in self._accounts.values() if a.xmpp_jid == jid), None)

    async def bots_of(self, owner: str) -> list[Account]:
        return sorted(
            (a for a in self._accounts.values() if a.bot_owner == owner), key=lambda a: a.name
        )

    async def delete_account(self, name: str) -> bool:
        if self._accounts.pop(name, None) is None:
            return False
        await self.delete_sessions(name)
        for token_hash in [h for h, t in self._tokens.items() if t.account == name]:
            del self._tokens[token_hash]
        for key in [k for k in self._roles if k[1] == name]:
            del self._roles[key]
        for code_hash in [h for h, c in self._claims.items() if c.account == name]:
            del self._claims[code_hash]
        return True

    async def first_admin(self) -> str | None:
        admins = [a for a in await self.list_accounts() if a.admin]
        return admins[0].name if admins else None

    async def add_session(self, session: BrowserSession) -> None:
        self._sessions[session.id_hash] = session

    async def get_session(self, id_hash: str) -> BrowserSession | None:
        return self._sessions.get(id_hash)

    async def delete_session(self, id_hash: str) -> None:
        self._sessions.pop(id_hash, None)

    async def delete_sessions(self, account: str) -> int:
        ended = [h for h, s in self._sessions.items() if s.account == account]
        for id_hash in ended:
            del self._sessions[id_hash]
        return len(ended)

    async def add_token(self, token: ApiToken) -> None:
        self._tokens[token.token_hash] = token

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return self._tokens.get(token_hash)

    async def list_tokens(self, account: str) -> list[ApiToken]:
        mine = [t for t in self._tokens.values() if t.account == account]
        return sorted(mine, key=lambda t: (t.created_at, t.id))

    async def delete_token(self, account: str, token_id: str) -> bool:
        for token_hash, token in list(self._tokens.items()):
            if token.account == account and token.id == token_id:
                del self._tokens[token_hash]
                return True
        return False

    async def add_invite(self, invite: Invite) -> None:
        self._invites[invite.code_hash] = invite

    async def take_invite(self, code_hash: str, now: datetime) -> bool:
        invite = self._invites.pop(code_hash, None)
        return invite is not None and invite.expires_at > now

    async def add_address_claim(self, claim: AddressClaim) -> None:
        for code_hash, held in list(self._claims.items()):
            if held.account == claim.account:
                del self._claims[code_hash]
        self._claims[claim.code_hash] = claim

    async def redeem_address_claim(self, code_hash: str, jid: str, now: datetime) -> str | None:
        claim = self._claims.get(code_hash)
        if claim is None:
            return None
        if claim.expires_at <= now or claim.account not in self._accounts:
            del self._claims[code_hash]  # an expired claim goes, as in the SQL store
            return None
        holder = next((a for a in self._accounts.values() if a.xmpp_jid == jid), None)
        if holder is not None and holder.name != claim.account:
            raise AccountExists(f"the XMPP address '{jid}' is another account's")
        del self._claims[code_hash]
        self._accounts[claim.account] = replace(self._accounts[claim.account], xmpp_jid=jid)
        return claim.account

    async def set_role(self, doc_id: str, account: str, role: Role | None) -> None:
        if role is None:
            self._roles.pop((doc_id, account), None)
        else:
            self._roles[(doc_id, account)] = role

    async def role_of(self, doc_id: str, account: str) -> Role | None:
        return self._roles.get((doc_id, account))

    async def grants_of(self, doc_id: str) -> list[Grant]:
        return sorted_grants([Grant(d, a, r) for (d, a), r in self._roles.items() if d == doc_id])

    async def owner_of(self, doc_id: str) -> str | None:
        for (d, account), role in self._roles.items():
            if d == doc_id and role is Role.OWNER:
                return account
        return None

    async def documents_of(self, account: str) -> list[str]:
        return sorted(d for (d, a) in self._roles if a == account)

    async def set_link(self, link: ShareLink) -> None:
        self._links[(link.doc_id, link.role)] = link

    async def link_by_hash(self, token_hash: str) -> ShareLink | None:
        for link in self._links.values():
            if link.token_hash == token_hash:
                return link
        return None

    async def links_of(self, doc_id: str) -> list[ShareLink]:
        return sorted(
            (link for (d, _), link in self._links.items() if d == doc_id),
            key=lambda link: link.role.rank,
        )

    async def delete_link(self, doc_id: str, role: Role) -> bool:
        return self._links.pop((doc_id, role), None) is not None

    async def forget_document(self, doc_id: str) -> None:
        for grant in [k for k in self._roles if k[0] == doc_id]:
            del self._roles[grant]
        for link in [k for k in self._links if k[0] == doc_id]:
            del self._links[link]
