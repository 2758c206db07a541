"""A person's own XMPP address, proven by a message from it (app/core/xmpp_links.py), with
the memory stores and a channel that only says where to send: the XMPP side is tested end to
end in tests/app/buses/xmpp/test_address_claims.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.config import Settings
from app.core.access import Access
from app.core.accounts import Account, Role
from app.core.errors import Refusal, Refused
from app.core.xmpp_links import (
    CLAIMS_PER_WINDOW,
    FAILURES_PER_WINDOW,
    WINDOW_SECONDS,
    XmppLinks,
    XmppUnavailable,
    code_in,
)
from app.stores.memory import MemoryStore
from app.stores.memory_accounts import MemoryAccountStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Channel:
    def __init__(self) -> None:
        self.address: str | None = "collab@example.org"

    def claim_address(self) -> str | None:
        return self.address

    def attach_address_claims(self, redeem: object) -> None:
        raise AssertionError("not used here")


class World:
    def __init__(self) -> None:
        self.accounts = MemoryAccountStore()
        self.access = Access(Settings(auth="on"), MemoryStore(), self.accounts)
        self.changed: list[str] = []
        self.access.listeners.append(self.changed.append)
        self.clock = 0.0
        self.wall = T0
        self.links = XmppLinks(
            self.accounts, self.access, clock=lambda: self.clock, now=lambda: self.wall
        )
        self.channel = Channel()
        self.links.channel = self.channel

    async def person(self, name: str, *, bot_owner: str = "") -> Account:
        account = Account(name, name.title(), "$argon2id$x", False, False, T0, "", bot_owner)
        await self.accounts.create_account(account)
        return account

    def later(self, seconds: float) -> None:
        self.clock += seconds
        self.wall += timedelta(seconds=seconds)


def test_a_link_message_is_read_as_typed_or_pasted() -> None:
    assert code_in("link K7Q2M9XDPA") == "K7Q2M9XDPA"
    assert code_in("  Link k7q2m9xdpa \n") == "K7Q2M9XDPA"
    assert code_in("link K7Q2M-9XDPA") == "K7Q2M9XDPA"
    for text in ("hello", "link", "link K7Q2M9XDP", "link K7Q2M9XDPAB", "please link K7Q2M9XDPA"):
        assert code_in(text) is None, text


async def test_the_address_that_sends_the_code_is_linked_and_follows_the_roles() -> None:
    world = World()
    ann = await world.person("ann")
    await world.accounts.set_role("plan", "ann", Role.EDITOR)
    claimed = await world.links.claim(ann)
    assert claimed.send_to == "collab@example.org"
    assert claimed.message == f"link {claimed.code}" and len(claimed.code) == 10
    assert claimed.expires_at == T0 + timedelta(minutes=10)

    answer = await world.links.redeem(claimed.message, "Ann@Chat.Example")
    assert answer == "Linked: ann@chat.example is now the XMPP address of the account 'ann'."
    linked = await world.accounts.get_account("ann")
    assert linked is not None and linked.xmpp_jid == "ann@chat.example"
    assert world.changed == ["plan"]  # the document's nodes and room admit the address
    members = await world.access.bus_members("plan")
    assert set(members) == {"ann@chat.example"}

    # The same message heard by another instance: used up, and already linked, so silence.
    assert await world.links.redeem(claimed.message, "ann@chat.example") is None

    # Unlinked: the document follows again.
    unlinked = await world.links.unlink(linked)
    assert unlinked.xmpp_jid == ""
    assert world.changed == ["plan", "plan"]
    assert await world.access.bus_members("plan") == {}


async def test_wrong_late_and_taken_codes_are_answered_and_link_nothing() -> None:
    world = World()
    ann = await world.person("ann")
    bob = await world.person("bob")
    await world.accounts.update_account("bob", xmpp_jid="bob@chat.example")
    unknown = "That code is unknown or has expired."
    assert (await world.links.redeem("link AAAAAAAAAA", "eve@chat.example") or "").startswith(
        unknown
    )
    assert await world.links.redeem("hi there", "eve@chat.example") is None  # not for us

    claimed = await world.links.claim(ann)
    taken = await world.links.redeem(claimed.message, "bob@chat.example")
    assert taken is not None and "already another account's" in taken
    assert (await world.accounts.get_account("bob")) is not None
    assert (await world.accounts.get_account("ann")).xmpp_jid == ""  # type: ignore[union-attr]

    world.later(601)
    assert (await world.links.redeem(claimed.message, "ann@chat.example") or "").startswith(unknown)
    assert (await world.accounts.get_account("ann")).xmpp_jid == ""  # type: ignore[union-attr]
    assert bob.xmpp_jid == "" and world.changed == []


async def test_guessing_is_answered_a_few_times_then_ignored() -> None:
    world = World()
    ann = await world.person("ann")
    for _ in range(FAILURES_PER_WINDOW):
        assert await world.links.redeem("link BBBBBBBBBB", "eve@chat.example") is not None
    # Eve has had her answers: not even a right code counts from her now, for a while.
    claimed = await world.links.claim(ann)
    assert await world.links.redeem(claimed.message, "eve@chat.example") is None
    assert (await world.accounts.get_account("ann")).xmpp_jid == ""  # type: ignore[union-attr]
    # Others are not held up by her; and after the window she is answered again.
    assert await world.links.redeem("link BBBBBBBBBB", "dan@chat.example") is not None
    world.later(WINDOW_SECONDS)
    assert await world.links.redeem("link BBBBBBBBBB", "eve@chat.example") is not None


async def test_codes_are_asked_for_at_a_bounded_rate_and_only_with_xmpp_and_by_people() -> None:
    world = World()
    ann = await world.person("ann")
    codes = [(await world.links.claim(ann)).code for _ in range(CLAIMS_PER_WINDOW)]
    with pytest.raises(Refused) as refused:
        await world.links.claim(ann)
    assert refused.value.refusal is Refusal.RATE_LIMITED
    # Only the last code counts.
    assert await world.links.redeem(f"link {codes[0]}", "ann@chat.example") is not None
    assert (await world.accounts.get_account("ann")).xmpp_jid == ""  # type: ignore[union-attr]
    assert (await world.links.redeem(f"link {codes[-1]}", "ann@chat.example") or "").startswith(
        "Linked"
    )
    world.later(WINDOW_SECONDS)
    await world.links.claim(ann)

    world.channel.address = None  # disconnected from XMPP
    with pytest.raises(XmppUnavailable) as unavailable:
        await world.links.claim(ann)
    assert unavailable.value.code == "xmpp-unavailable"

    world.channel.address = "collab@example.org"
    robot = await world.person("robot", bot_owner="ann")
    with pytest.raises(Refused) as bot:
        await world.links.claim(robot)
    assert bot.value.refusal is Refusal.FORBIDDEN
    with pytest.raises(Refused):
        await world.links.unlink(robot)
