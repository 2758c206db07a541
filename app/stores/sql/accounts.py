"""An ``AccountStore`` in the SQL database, on the documents' engine (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
from app.stores.sql.models import (
    AccountRow,
    AddressClaimRow,
    GrantRow,
    InviteRow,
    LinkRow,
    SessionRow,
    TokenRow,
)
from app.stores.sql.utc import aware


def _account(row: AccountRow) -> Account:
    return Account(
        row.name,
        row.display_name,
        row.password_hash,
        row.admin,
        row.disabled,
        aware(row.created_at),
        row.xmpp_jid or "",
        row.bot_owner or "",
    )


def _session(row: SessionRow) -> BrowserSession:
    return BrowserSession(
        row.id_hash, row.account, row.csrf, aware(row.created_at), aware(row.expires_at)
    )


def _token(row: TokenRow) -> ApiToken:
    expires = aware(row.expires_at) if row.expires_at is not None else None
    return ApiToken(row.id, row.account, row.name, row.token_hash, aware(row.created_at), expires)


def _link(row: LinkRow) -> ShareLink:
    return ShareLink(row.doc_id, Role(row.role), row.token_hash, aware(row.created_at))


class SqlAccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self._sessions()

    async def _scalars(self, statement: Any) -> list[Any]:
        async with self.session() as session:
            return list((await session.scalars(statement)).all())

    async def _execute(self, statement: Any) -> int:
        async with self.session() as session:
            result = await session.execute(statement)
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    async def _add(self, row: Any) -> None:
        async with self.session() as session:
            session.add(row)
            await session.commit()

    # -- accounts -----------------------------------------------------------------------

    async def create_account(self, account: Account) -> None:
        try:
            await self._add(
                AccountRow(
                    name=account.name,
                    display_name=account.display_name,
                    password_hash=account.password_hash,
                    admin=account.admin,
                    disabled=account.disabled,
                    created_at=account.created_at,
                    xmpp_jid=account.xmpp_jid or None,
                    bot_owner=account.bot_owner or None,
                )
            )
        except IntegrityError as exc:
            raise AccountExists(f"the name '{account.name}' is taken") from exc

    async def get_account(self, name: str) -> Account | None:
        async with self.session() as session:
            row = await session.get(AccountRow, name)
            return _account(row) if row else None

    async def list_accounts(self) -> list[Account]:
        rows = await self._scalars(
            select(AccountRow).order_by(AccountRow.created_at, AccountRow.name)
        )
        return [_account(r) for r in rows]

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
        async with self.session() as session:
            row = await session.get(AccountRow, name)
            if row is None:
                raise AccountNotFound(f"no account named '{name}'")
            if xmpp_jid is not None:
                row.xmpp_jid = xmpp_jid or None
            if display_name is not None:
                row.display_name = display_name
            if password_hash is not None:
                row.password_hash = password_hash
            if disabled is not None:
                row.disabled = disabled
            if admin is not None:
                row.admin = admin
            try:
                await session.commit()
            except IntegrityError as exc:
                raise AccountExists(f"the XMPP address '{xmpp_jid}' is another account's") from exc
            return _account(row)

    async def account_by_jid(self, jid: str) -> Account | None:
        if not jid:
            return None
        rows = await self._scalars(select(AccountRow).where(AccountRow.xmpp_jid == jid))
        return _account(rows[0]) if rows else None

    async def bots_of(self, owner: str) -> list[Account]:
        rows = await self._scalars(
            select(AccountRow).where(AccountRow.bot_owner == owner).order_by(AccountRow.name)
        )
        return [_account(r) for r in rows]

    async def delete_account(self, name: str) -> bool:
        async with self.session() as session:
            removed = await session.execute(delete(AccountRow).where(AccountRow.name == name))
            for table, column in (
                (SessionRow, SessionRow.account),
                (TokenRow, TokenRow.account),
                (GrantRow, GrantRow.account),
                (AddressClaimRow, AddressClaimRow.account),
            ):
                await session.execute(delete(table).where(column == name))
            await session.commit()
        return bool(getattr(removed, "rowcount", 0))

    async def first_admin(self) -> str | None:
        names = await self._scalars(
            select(AccountRow.name)
            .where(AccountRow.admin.is_(True))
            .order_by(AccountRow.created_at, AccountRow.name)
            .limit(1)
        )
        return str(names[0]) if names else None

    # -- sessions -----------------------------------------------------------------------

    async def add_session(self, session: BrowserSession) -> None:
        await self._add(
            SessionRow(
                id_hash=session.id_hash,
                account=session.account,
                csrf=session.csrf,
                created_at=session.created_at,
                expires_at=session.expires_at,
            )
        )

    async def get_session(self, id_hash: str) -> BrowserSession | None:
        async with self.session() as session:
            row = await session.get(SessionRow, id_hash)
            return _session(row) if row else None

    async def delete_session(self, id_hash: str) -> None:
        await self._execute(delete(SessionRow).where(SessionRow.id_hash == id_hash))

    async def delete_sessions(self, account: str) -> int:
        return await self._execute(delete(SessionRow).where(SessionRow.account == account))

    # -- tokens -------------------------------------------------------------------------

    async def add_token(self, token: ApiToken) -> None:
        await self._add(
            TokenRow(
                token_hash=token.token_hash,
                id=token.id,
                account=token.account,
                name=token.name,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        async with self.session() as session:
            row = await session.get(TokenRow, token_hash)
            return _token(row) if row else None

    async def list_tokens(self, account: str) -> list[ApiToken]:
        rows = await self._scalars(
            select(TokenRow)
            .where(TokenRow.account == account)
            .order_by(TokenRow.created_at, TokenRow.id)
        )
        return [_token(r) for r in rows]

    async def delete_token(self, account: str, token_id: str) -> bool:
        deleted = await self._execute(
            delete(TokenRow).where(TokenRow.account == account, TokenRow.id == token_id)
        )
        return deleted > 0

    # -- invitations --------------------------------------------------------------------

    async def add_invite(self, invite: Invite) -> None:
        await self._add(
            InviteRow(
                code_hash=invite.code_hash,
                created_by=invite.created_by,
                created_at=invite.created_at,
                expires_at=invite.expires_at,
            )
        )

    async def take_invite(self, code_hash: str, now: datetime) -> bool:
        # Deleting it is what uses it up: of two racing registrations, one deletes the row.
        async with self.session() as session:
            row = await session.get(InviteRow, code_hash)
            if row is None:
                return False
            valid = aware(row.expires_at) > now
            result = await session.execute(
                delete(InviteRow).where(InviteRow.code_hash == code_hash)
            )
            await session.commit()
            return valid and bool(getattr(result, "rowcount", 0))

    # -- XMPP address claims --------------------------------------------------------------

    async def add_address_claim(self, claim: AddressClaim) -> None:
        async with self.session() as session:
            await session.execute(
                delete(AddressClaimRow).where(AddressClaimRow.account == claim.account)
            )
            session.add(
                AddressClaimRow(
                    code_hash=claim.code_hash,
                    account=claim.account,
                    created_at=claim.created_at,
                    expires_at=claim.expires_at,
                )
            )
            await session.commit()

    async def redeem_address_claim(self, code_hash: str, jid: str, now: datetime) -> str | None:
        async with self.session() as session:
            # Deleting the claim is what uses it: of two instances hearing the same message,
            # one deletes the row (the other waits for its transaction, then finds none).
            claimed = await session.execute(
                delete(AddressClaimRow)
                .where(AddressClaimRow.code_hash == code_hash)
                .returning(AddressClaimRow.account, AddressClaimRow.expires_at)
            )
            row = claimed.first()
            if row is None or aware(row.expires_at) <= now:
                await session.commit()  # an expired claim goes either way
                return None
            account = await session.get(AccountRow, row.account)
            if account is None:
                await session.commit()
                return None
            account.xmpp_jid = jid
            try:
                await session.commit()
            except IntegrityError as exc:
                raise AccountExists(f"the XMPP address '{jid}' is another account's") from exc
            return str(row.account)

    # -- roles and links ----------------------------------------------------------------

    async def set_role(self, doc_id: str, account: str, role: Role | None) -> None:
        async with self.session() as session:
            row = await session.get(GrantRow, (doc_id, account))
            if role is None:
                if row is not None:
                    await session.delete(row)
            elif row is None:
                session.add(GrantRow(doc_id=doc_id, account=account, role=role.value))
            else:
                row.role = role.value
            await session.commit()

    async def role_of(self, doc_id: str, account: str) -> Role | None:
        async with self.session() as session:
            row = await session.get(GrantRow, (doc_id, account))
            return Role(row.role) if row else None

    async def grants_of(self, doc_id: str) -> list[Grant]:
        rows = await self._scalars(select(GrantRow).where(GrantRow.doc_id == doc_id))
        return sorted_grants([Grant(r.doc_id, r.account, Role(r.role)) for r in rows])

    async def owner_of(self, doc_id: str) -> str | None:
        names = await self._scalars(
            select(GrantRow.account).where(
                GrantRow.doc_id == doc_id, GrantRow.role == Role.OWNER.value
            )
        )
        return str(names[0]) if names else None

    async def documents_of(self, account: str) -> list[str]:
        ids = await self._scalars(
            select(GrantRow.doc_id).where(GrantRow.account == account).order_by(GrantRow.doc_id)
        )
        return [str(i) for i in ids]

    async def set_link(self, link: ShareLink) -> None:
        async with self.session() as session:
            await session.execute(
                delete(LinkRow).where(
                    LinkRow.doc_id == link.doc_id, LinkRow.role == link.role.value
                )
            )
            session.add(
                LinkRow(
                    doc_id=link.doc_id,
                    role=link.role.value,
                    token_hash=link.token_hash,
                    created_at=link.created_at,
                )
            )
            await session.commit()

    async def link_by_hash(self, token_hash: str) -> ShareLink | None:
        rows = await self._scalars(select(LinkRow).where(LinkRow.token_hash == token_hash))
        return _link(rows[0]) if rows else None

    async def links_of(self, doc_id: str) -> list[ShareLink]:
        rows = await self._scalars(select(LinkRow).where(LinkRow.doc_id == doc_id))
        return sorted((_link(r) for r in rows), key=lambda link: link.role.rank)

    async def delete_link(self, doc_id: str, role: Role) -> bool:
        deleted = await self._execute(
            delete(LinkRow).where(LinkRow.doc_id == doc_id, LinkRow.role == role.value)
        )
        return deleted > 0

    async def forget_document(self, doc_id: str) -> None:
        async with self.session() as session:
            await session.execute(delete(GrantRow).where(GrantRow.doc_id == doc_id))
            await session.execute(delete(LinkRow).where(LinkRow.doc_id == doc_id))
            await session.commit()
