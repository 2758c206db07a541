"""The affiliation rules (pure) and the bridge's own check of inbox publishers.

The real servers' side is in test_node_access.py; here, what the app asks of them and what it
refuses on its own, whatever a server configured by hand lets through."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from app.buses.xmpp.affiliations import changes, normalized, unwelcome, wanted
from app.buses.xmpp.bridge import XmppBridge
from app.buses.xmpp.prosody import XmppAccount
from app.config import Settings
from app.core.bus import BusMember
from app.core.errors import Refused
from app.metrics import Metrics

pytestmark = pytest.mark.anyio
ME = "collab@example.org"


def test_roles_become_affiliations_node_by_node() -> None:
    members = {
        "Viewer@Example.org": BusMember("vee", "viewer"),
        "editor@example.org": BusMember("ed", "editor"),
        "owner@example.org": BusMember("ann", "owner"),
    }
    got = wanted("d", members)
    readers = {"viewer@example.org": "member", "editor@example.org": "member"}
    readers["owner@example.org"] = "member"
    assert got["collab/doc/d"] == readers
    assert got["collab/doc/d/snapshot"] == readers
    assert got["collab/doc/d/live"] == readers
    assert got["collab/doc/d/inbox"] == {
        "editor@example.org": "publisher",
        "owner@example.org": "publisher",
    }
    assert wanted("d", {}) == {node: {} for node in got}


def test_changes_add_fix_and_remove_but_leave_owners_and_the_app_alone() -> None:
    current = {
        ME: "owner",
        "admin@example.org": "owner",  # the server's own: not ours to take away
        "stays@example.org": "member",
        "promoted@example.org": "member",
        "gone@example.org": "publisher",
        "outcast@example.org": "outcast",
    }
    target = {
        "stays@example.org": "member",
        "promoted@example.org": "publisher",
        "new@example.org": "member",
    }
    assert changes(current, target, ME) == {
        "promoted@example.org": "publisher",
        "new@example.org": "member",
        "gone@example.org": "none",
    }
    assert changes({"Stays@Example.org": "member"}, {"stays@example.org": "member"}, ME) == {}
    assert changes({ME: "owner"}, {ME: "member"}, ME) == {}


def test_unwelcome_subscribers_are_found_by_their_bare_jid() -> None:
    subscribers = [
        f"{ME}/app-1",
        "stays@example.org/phone",
        "Gone@example.org/x",
        "gone@example.org",
    ]
    target = {"stays@example.org": "member"}
    assert unwelcome(subscribers, target, ME) == ["Gone@example.org/x", "gone@example.org"]
    assert normalized("Ann@Example.org/Res") == "ann@example.org"


def bridge_with(members: Mapping[str, BusMember]) -> XmppBridge:
    account = XmppAccount(ME, "secret", "127.0.0.1", 1, "pubsub.example.org")
    settings = Settings(_env_file=None, xmpp_mode="external")  # type: ignore[call-arg]
    bridge = XmppBridge(account, resource="test", settings=settings, metrics=Metrics())

    async def members_of(doc_id: str) -> Mapping[str, BusMember]:
        return members if doc_id == "d" else {}

    bridge.follow_access(members_of)
    return bridge


async def test_inbox_edits_are_taken_only_from_editors_and_under_their_account() -> None:
    bridge = bridge_with(
        {
            "bot@example.org": BusMember("robo", "editor"),
            "peek@example.org": BusMember("pk", "viewer"),
        }
    )
    assert bridge.restricted
    assert await bridge._editor("d", "Bot@example.org/anywhere") == "robo"
    with pytest.raises(Refused, match="pk may only view 'd'"):
        await bridge._editor("d", "peek@example.org/x")
    with pytest.raises(Refused, match="has no role on 'd'"):
        await bridge._editor("d", "mallory@example.org/x")
    with pytest.raises(Refused, match="has no role on 'e'"):
        await bridge._editor("e", "bot@example.org/x")  # a role on one document only
    with pytest.raises(Refused, match="an unnamed publisher"):
        await bridge._editor("d", "")  # a server that does not say who published


class Heard:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def presence_heard(self, doc_id: str, event: object) -> None:
        kind, person = getattr(event, "event"), getattr(event, "person")  # noqa: B009
        self.events.append((doc_id, kind, person["name"]))


async def test_only_a_member_bot_is_listed_among_the_people() -> None:
    bridge = bridge_with({"bot@example.org": BusMember("robo", "viewer")})
    heard = Heard()
    bridge._host = heard  # type: ignore[assignment]
    await bridge._bot_follows("mallory@example.org/x", "d", "Mallory")  # no role: dropped
    await bridge._bot_follows("bot@example.org/x", "e", "Robo")  # a role elsewhere only
    assert heard.events == []
    assert bridge.dropped == 2
    await bridge._bot_follows("bot@example.org/x", "d", "Robo")
    await bridge._bot_follows("bot@example.org/x", "d", "Robo")  # said again: an update
    assert heard.events == [("d", "join", "Robo"), ("d", "update", "Robo")]
