"""The ``AccountStore`` contract: memory, SQLite and PostgreSQL keep the same promises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from app.core.accounts import (
    Account,
    AccountExists,
    AccountNotFound,
    AccountStore,
    AddressClaim,
    ApiToken,
    BrowserSession,
    Grant,
    Invite,
    Role,
    ShareLink,
    digest,
)
from app.stores.memory_accounts import MemoryAccountStore
from app.stores.sql.accounts import SqlAccountStore
from app.stores.sql.models import (
    AccountRow,
    AddressClaimRow,
    GrantRow,
    InviteRow,
    LinkRow,
    SessionRow,
    TokenRow,
)
from tests.app.stores.support import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
async def accounts(backend: Backend) -> AsyncIterator[AccountStore]:
    if backend.kind == "memory":
        yield MemoryAccountStore()
        return
    store = await backend.open_sql()
    try:
        async with store.session() as session:  # a shared PostgreSQL database: start empty
            for row in (
                AccountRow,
                SessionRow,
                TokenRow,
                InviteRow,
                GrantRow,
                LinkRow,
                AddressClaimRow,
            ):
                await session.execute(delete(row))
            await session.commit()
        yield SqlAccountStore(store.engine)
    finally:
        await store.close()


def account(name: str, *, admin: bool = False, at: datetime = T0) -> Account:
    return Account(name, name.title(), "$argon2id$hash", admin, False, at)


async def test_accounts_are_created_once_listed_oldest_first_and_updated(
    accounts: AccountStore,
) -> None:
    await accounts.create_account(account("bob", at=T0 + timedelta(seconds=1)))
    await accounts.create_account(account("ann", admin=True, at=T0 + timedelta(seconds=2)))
    await accounts.create_account(account("cat", admin=True, at=T0 + timedelta(seconds=3)))
    with pytest.raises(AccountExists):
        await accounts.create_account(account("bob"))
    assert [a.name for a in await accounts.list_accounts()] == ["bob", "ann", "cat"]
    assert await accounts.first_admin() == "ann"
    assert await accounts.get_account("nobody") is None
    updated = await accounts.update_account("bob", disabled=True, display_name="Robert")
    assert (updated.disabled, updated.display_name, updated.admin) == (True, "Robert", False)
    assert await accounts.get_account("bob") == updated
    assert (await accounts.get_account("bob")).created_at == T0 + timedelta(seconds=1)  # type: ignore[union-attr]
    with pytest.raises(AccountNotFound):
        await accounts.update_account("nobody", disabled=True)


async def test_sessions_are_found_by_digest_and_end_one_or_all(accounts: AccountStore) -> None:
    for id_hash, who in [("a1", "ann"), ("a2", "ann"), ("b1", "bob")]:
        await accounts.add_session(
            BrowserSession(digest(id_hash), who, "csrf-" + id_hash, T0, T0 + timedelta(days=1))
        )
    found = await accounts.get_session(digest("a1"))
    assert found == BrowserSession(digest("a1"), "ann", "csrf-a1", T0, T0 + timedelta(days=1))
    await accounts.delete_session(digest("a1"))
    assert await accounts.get_session(digest("a1")) is None
    assert await accounts.delete_sessions("ann") == 1
    assert await accounts.get_session(digest("a2")) is None
    assert await accounts.get_session(digest("b1")) is not None


async def test_tokens_listed_per_account_and_revoked_by_their_owner_only(
    accounts: AccountStore,
) -> None:
    first = ApiToken("t1", "ann", "laptop", digest("s1"), T0, None)
    second = ApiToken("t2", "ann", "ci", digest("s2"), T0 + timedelta(seconds=1), T0)
    await accounts.add_token(first)
    await accounts.add_token(second)
    await accounts.add_token(ApiToken("t3", "bob", "bob's", digest("s3"), T0, None))
    assert await accounts.token_by_hash(digest("s2")) == second
    assert await accounts.list_tokens("ann") == [first, second]
    assert not await accounts.delete_token("bob", "t1")  # not bob's
    assert await accounts.delete_token("ann", "t1")
    assert await accounts.token_by_hash(digest("s1")) is None


async def test_an_address_claim_links_its_account_once_and_not_after_it_expires(
    accounts: AccountStore,
) -> None:
    for name in ("ann", "bob", "cat"):
        await accounts.create_account(account(name))
    later = T0 + timedelta(minutes=10)
    await accounts.add_address_claim(AddressClaim(digest("first"), "ann", T0, later))
    await accounts.add_address_claim(AddressClaim(digest("second"), "ann", T0, later))
    # A new claim replaces the account's last one.
    assert await accounts.redeem_address_claim(digest("first"), "ann@chat.example", T0) is None
    assert await accounts.redeem_address_claim(digest("second"), "ann@chat.example", T0) == "ann"
    linked = await accounts.get_account("ann")
    assert linked is not None and linked.xmpp_jid == "ann@chat.example"
    assert (await accounts.account_by_jid("ann@chat.example")) == linked
    # Used up: the same message heard again (on another instance) links nothing more.
    assert await accounts.redeem_address_claim(digest("second"), "mallory@evil", T0) is None
    assert (await accounts.get_account("ann")) == linked

    # An address already another account's: refused, and the claim stays for the right one.
    await accounts.add_address_claim(AddressClaim(digest("bobs"), "bob", T0, later))
    with pytest.raises(AccountExists):
        await accounts.redeem_address_claim(digest("bobs"), "ann@chat.example", T0)
    bob = await accounts.get_account("bob")
    assert bob is not None and bob.xmpp_jid == ""
    assert await accounts.redeem_address_claim(digest("bobs"), "bob@chat.example", T0) == "bob"

    # Expired: nothing happens, and it is gone.
    await accounts.add_address_claim(AddressClaim(digest("late"), "cat", T0, later))
    assert await accounts.redeem_address_claim(digest("late"), "cat@chat.example", later) is None
    assert await accounts.redeem_address_claim(digest("late"), "cat@chat.example", T0) is None
    cat = await accounts.get_account("cat")
    assert cat is not None and cat.xmpp_jid == ""

    # A removed account's claim goes with it.
    await accounts.add_address_claim(AddressClaim(digest("gone"), "cat", T0, later))
    assert await accounts.delete_account("cat")
    assert await accounts.redeem_address_claim(digest("gone"), "cat@chat.example", T0) is None


async def test_an_invitation_is_used_once_and_not_after_it_expires(
    accounts: AccountStore,
) -> None:
    await accounts.add_invite(Invite(digest("good"), "ann", T0, T0 + timedelta(days=1)))
    await accounts.add_invite(Invite(digest("old"), "ann", T0, T0 + timedelta(seconds=1)))
    assert await accounts.take_invite(digest("good"), T0)
    assert not await accounts.take_invite(digest("good"), T0)
    assert not await accounts.take_invite(digest("old"), T0 + timedelta(days=2))
    assert not await accounts.take_invite(digest("never"), T0)


async def test_roles_and_links_per_document(accounts: AccountStore) -> None:
    await accounts.set_role("doc", "ann", Role.OWNER)
    await accounts.set_role("doc", "bob", Role.VIEWER)
    await accounts.set_role("doc", "bob", Role.EDITOR)  # replaces
    await accounts.set_role("doc", "cat", Role.VIEWER)
    await accounts.set_role("other", "bob", Role.OWNER)
    assert await accounts.role_of("doc", "bob") is Role.EDITOR
    assert await accounts.owner_of("doc") == "ann"
    assert await accounts.owner_of("nothing") is None
    assert await accounts.grants_of("doc") == [
        Grant("doc", "ann", Role.OWNER),
        Grant("doc", "bob", Role.EDITOR),
        Grant("doc", "cat", Role.VIEWER),
    ]
    assert await accounts.documents_of("bob") == ["doc", "other"]
    await accounts.set_role("doc", "cat", None)
    assert await accounts.role_of("doc", "cat") is None

    view = ShareLink("doc", Role.VIEWER, digest("v1"), T0)
    await accounts.set_link(view)
    await accounts.set_link(ShareLink("doc", Role.EDITOR, digest("e1"), T0))
    replaced = ShareLink("doc", Role.EDITOR, digest("e2"), T0 + timedelta(seconds=1))
    await accounts.set_link(replaced)
    assert await accounts.link_by_hash(digest("e1")) is None  # the old link is revoked
    assert await accounts.link_by_hash(digest("e2")) == replaced
    assert await accounts.links_of("doc") == [view, replaced]
    assert await accounts.delete_link("doc", Role.VIEWER)
    assert not await accounts.delete_link("doc", Role.VIEWER)

    await accounts.forget_document("doc")
    assert await accounts.grants_of("doc") == []
    assert await accounts.links_of("doc") == []
    assert await accounts.documents_of("bob") == ["other"]


async def test_xmpp_identities_are_unique_found_by_jid_and_cleared(accounts: AccountStore) -> None:
    await accounts.create_account(account("ann"))
    await accounts.create_account(account("bob"))
    assert await accounts.account_by_jid("ann@chat.example") is None
    updated = await accounts.update_account("ann", xmpp_jid="ann@chat.example")
    assert updated.xmpp_jid == "ann@chat.example"
    found = await accounts.account_by_jid("ann@chat.example")
    assert found is not None and found.name == "ann"
    with pytest.raises(AccountExists):
        await accounts.update_account("bob", xmpp_jid="ann@chat.example")
    assert (await accounts.get_account("bob")) is not None
    assert (await accounts.get_account("bob")).xmpp_jid == ""  # type: ignore[union-attr]
    await accounts.update_account("ann", xmpp_jid="")
    assert await accounts.account_by_jid("ann@chat.example") is None
    assert await accounts.account_by_jid("") is None


async def test_bots_belong_to_their_owner_and_go_with_their_roles(accounts: AccountStore) -> None:
    await accounts.create_account(account("ann"))
    for name in ("zed-bot", "ada-bot"):
        bot = Account(name, name, "", False, False, T0, xmpp_jid=f"{name}@x", bot_owner="ann")
        await accounts.create_account(bot)
    assert [b.name for b in await accounts.bots_of("ann")] == ["ada-bot", "zed-bot"]
    assert all(b.bot for b in await accounts.bots_of("ann"))
    assert await accounts.bots_of("zed-bot") == []
    await accounts.set_role("d", "ann", Role.OWNER)
    await accounts.set_role("d", "ada-bot", Role.EDITOR)
    token = ApiToken("t1", "ada-bot", "ci", digest("secret"), T0, None)
    await accounts.add_token(token)
    assert await accounts.delete_account("ada-bot") is True
    assert await accounts.delete_account("ada-bot") is False
    assert await accounts.get_account("ada-bot") is None
    assert await accounts.account_by_jid("ada-bot@x") is None
    assert await accounts.grants_of("d") == [Grant("d", "ann", Role.OWNER)]
    assert await accounts.token_by_hash(digest("secret")) is None
    assert [b.name for b in await accounts.bots_of("ann")] == ["zed-bot"]
