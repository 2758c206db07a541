from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable

import pytest
from slixmpp import Message
from slixmpp.xmlstream import tostring

from app.buses.xmpp.prosody import XmppAccount
from sdk.xmpp import nodes
from sdk.xmpp import stanza as st
from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import DocumentNodes, RevisionAssembler, document_node
from sync.errors import BridgeError
from sync.protocol import Revision, Snapshot
from sync.server import Sequencer
from sync.text import checksum
from tests.sync.helpers import edit_on
from tests.xmpp_support import XmppServerForTests


def history(*inserts: str) -> list[Revision]:
    server = Sequencer("start")
    out = []
    for seq, text in enumerate(inserts, start=1):
        out.append(
            server.submit(edit_on(server.text, server.rev, "c", seq, 0, 0, text), "A").revision
        )
    return out


def test_node_names() -> None:
    assert nodes.document_node("q3") == "collab/doc/q3"
    assert nodes.parse_node("collab/doc/q3") == ("q3", "revisions")
    assert nodes.parse_node("collab/doc/q3/inbox") == ("q3", "inbox")
    assert nodes.parse_node("collab/doc/q3/snapshot") == ("q3", "snapshot")
    assert nodes.live_node("q3") == "collab/doc/q3/live"
    assert nodes.parse_node("collab/doc/q3/live") == ("q3", "live")
    assert nodes.all_nodes("q3")[0] == nodes.document_node("q3")
    assert nodes.parse_node("collab/doc/../x") is None
    assert nodes.parse_node("other") is None


def test_small_revisions_share_an_item() -> None:
    revisions = history("a", "b", "c")
    items = nodes.revision_items("d", revisions)
    assert [item_id for item_id, _ in items] == ["3"]
    assert RevisionAssembler().feed(items[0][1]) == revisions


def test_one_revision_is_a_single_item() -> None:
    revisions = history("a")
    [(item_id, payload)] = nodes.revision_items("d", revisions)
    assert item_id == "1" and isinstance(payload, st.RevisionStanza)


def test_big_revisions_are_split_and_reassembled() -> None:
    revisions = history("x", "é" * 100_000, "y")
    items = nodes.revision_items("d", revisions)
    ids = [item_id for item_id, _ in items]
    assert ids[0] == "1" and ids[-1] == "3"
    assert all(i.startswith("2.") for i in ids[1:-1]) and len(ids) > 3
    assembler = RevisionAssembler()
    out: list[Revision] = []
    for _, payload in items:
        assert len(payload["body"]) <= nodes.ITEM_BUDGET
        out += assembler.feed(payload)
    assert out == revisions


def test_every_revision_item_says_who_published_it() -> None:
    revisions = history("x", "é" * 100_000, "y", "z")
    items = nodes.revision_items("d", revisions, origin="collab@localhost/app-1")
    assert len(items) > 3  # one single, parts, one batch
    assert {st.origin_of(payload) for _, payload in items} == {"collab@localhost/app-1"}
    assert all(st.origin_of(payload) == "" for _, payload in nodes.revision_items("d", revisions))


def test_snapshot_items_round_trip_and_ignore_incomplete_sets() -> None:
    text = "line\r\n" + "字" * 50_000
    snapshot = Snapshot(7, text, checksum(text))
    items = [payload for _, payload in nodes.snapshot_items("d", snapshot)]
    assert len(items) > 1
    assert nodes.snapshot_from_items(items) == snapshot
    older = Snapshot(3, "old", checksum("old"))
    partial = items[:-1] + [p for _, p in nodes.snapshot_items("d", older)]
    assert nodes.snapshot_from_items(partial) == older


async def connected(account: XmppAccount, resource: str) -> XmppConnection:
    connection = XmppConnection(
        f"{account.jid}/{resource}", account.password, account.host, account.port
    )
    await connection.start()
    return connection


@pytest.fixture
def accounts(xmpp_server: XmppServerForTests) -> tuple[XmppAccount, XmppAccount]:
    return xmpp_server.service, xmpp_server.account()


@pytest.fixture(params=["as-text", "through-slixmpp"])
def publishing(request: pytest.FixtureRequest) -> str:
    """How publications are sent: written as text (sdk/xmpp/wire.py, what the app and bots
    do) or through slixmpp's pubsub plugin (a DocumentNodes given only a client)."""
    return str(request.param)


async def pair(
    accounts: tuple[XmppAccount, XmppAccount], publishing: str
) -> AsyncIterator[tuple[DocumentNodes, DocumentNodes, XmppConnection]]:
    service, bot = accounts
    app = await connected(service, "app")
    follower = await connected(bot, "b")
    as_text = publishing == "as-text"
    try:
        yield (
            DocumentNodes(app.xmpp, service.pubsub, iqs=app.iqs if as_text else None),
            DocumentNodes(follower.xmpp, service.pubsub, iqs=follower.iqs if as_text else None),
            follower,
        )
    finally:
        await app.stop()
        await follower.stop()


def test_publish_notify_and_read_back(
    accounts: tuple[XmppAccount, XmppAccount], publishing: str
) -> None:
    async def scenario() -> None:
        async for app, bot, follower in pair(accounts, publishing):
            await app.ensure("n1")
            await app.ensure("n1")  # idempotent
            events: asyncio.Queue[Message] = asyncio.Queue()
            follower.xmpp.add_event_handler("pubsub_publish", events.put_nowait)
            await bot.subscribe(document_node("n1"), bare=False)
            revisions = history("x<&]]>\r\n", "é" * 200_000, "\u202eRTL")
            await app.publish_revisions("n1", revisions)
            assembler, seen = RevisionAssembler(), list[Revision]()
            while len(seen) < 3:
                message = await asyncio.wait_for(events.get(), 10)
                seen += assembler.feed(nodes.payload_of(message["pubsub_event"]["items"]["item"]))
            assert seen == revisions
            assert await bot.revisions_after("n1", 1) == revisions[1:]
            # Only the app may publish revisions; anyone may publish to the inbox.
            with pytest.raises(BridgeError, match="forbidden"):
                await bot.publish_revisions("n1", revisions[:1])
            await app.delete("n1")
            with pytest.raises(BridgeError, match="item-not-found"):
                await bot.revisions_after("n1", 0)

    asyncio.run(scenario())


def test_snapshot_published_and_read(
    accounts: tuple[XmppAccount, XmppAccount], publishing: str
) -> None:
    async def scenario() -> None:
        async for app, bot, _ in pair(accounts, publishing):
            await app.ensure("n2")
            assert await bot.latest_snapshot("n2") is None
            text = "hello\r\nworld 😀"
            await app.publish_snapshot("n2", Snapshot(5, text, checksum(text)))
            assert await bot.latest_snapshot("n2") == Snapshot(5, text, checksum(text))
            await app.delete("n2")

    asyncio.run(scenario())


def test_the_revision_node_keeps_only_its_newest_items(
    accounts: tuple[XmppAccount, XmppAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server trims a revision node to REVISION_MAX_ITEMS, and a node made with another
    cap (by an earlier version: 10,000) gets this one when the app ensures it again."""

    async def max_items(app: DocumentNodes, node: str) -> str:
        iq = await app.pubsub.get_node_config(accounts[0].pubsub, node, timeout=10)
        return str(iq["pubsub_owner"]["configure"]["form"].get_values()["pubsub#max_items"])

    async def scenario() -> None:
        async for app, bot, _ in pair(accounts, "as-text"):
            node = document_node("n4")
            monkeypatch.setattr(nodes, "REVISION_MAX_ITEMS", 50)
            await app.ensure("n4")
            assert await max_items(app, node) == "50"
            monkeypatch.setattr(nodes, "REVISION_MAX_ITEMS", 4)
            await app.ensure("n4")
            assert await max_items(app, node) == "4"
            revisions = history(*"abcdefg")
            for revision in revisions:  # one item each
                assert await app.publish_revisions("n4", [revision]) == 1
            kept = await bot.item_ids(node)
            assert sorted(kept, key=int) == ["4", "5", "6", "7"]
            assert await bot.revisions_after("n4", 0) == revisions[3:]
            await app.delete("n4")

    asyncio.run(scenario())


def recorder(events: asyncio.Queue[tuple[str, Message]], kind: str) -> Callable[[Message], None]:
    return lambda message: events.put_nowait((kind, message))


def test_live_node_keeps_nothing_and_goes_with_the_document(
    accounts: tuple[XmppAccount, XmppAccount], publishing: str
) -> None:
    async def scenario() -> None:
        async for app, bot, follower in pair(accounts, publishing):
            await app.ensure("n3")
            events: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
            for kind in ("publish", "delete"):
                follower.xmpp.add_event_handler(f"pubsub_{kind}", recorder(events, kind))
            await bot.subscribe(nodes.live_node("n3"), bare=False)
            await bot.subscribe(document_node("n3"), bare=False)
            person = {"session": "s1", "name": "Ann", "color": "#000000", "rev": 0}
            await app.publish_presence("n3", "join", person)
            kind, message = await asyncio.wait_for(events.get(), 10)
            payload = nodes.payload_of(message["pubsub_event"]["items"]["item"])
            assert isinstance(payload, st.PresenceStanza)
            assert st.origin_of(payload) == app.origin == f"{accounts[0].jid}/app"
            await app.publish_renamed("n3", "New title")
            kind, message = await asyncio.wait_for(events.get(), 10)
            assert isinstance(
                nodes.payload_of(message["pubsub_event"]["items"]["item"]), st.RenamedStanza
            )
            # Transient: nothing is kept for a late subscriber. Prosody does not even list
            # the items of a node that keeps none (XEP-0060 "persistent-items" error);
            # ejabberd lists none.
            try:
                kept = await bot.item_ids(nodes.live_node("n3"))
            except BridgeError as exc:
                assert "feature-not-implemented" in str(exc)
            else:
                assert kept == []
            # Only the app may publish there.
            with pytest.raises(BridgeError, match="forbidden"):
                await bot.publish_renamed("n3", "Hijacked")
            # Deleting the document says so once, on the revision node.
            await app.delete("n3")
            kind, message = await asyncio.wait_for(events.get(), 10)
            assert (kind, message["pubsub_event"]["delete"]["node"]) == (
                "delete",
                document_node("n3"),
            )
            with pytest.raises(BridgeError, match="item-not-found"):
                await bot.subscribe(nodes.live_node("n3"), bare=False)
            assert events.empty()

    asyncio.run(scenario())


def test_a_revision_payload_is_recognized_from_its_element() -> None:
    revisions = history("a", "b")
    for _, payload in [
        *nodes.revision_items("d", revisions[:1]),
        *nodes.revision_items("d", revisions),
    ]:
        element = ET.fromstring(tostring(payload.xml))
        found = nodes.revision_payload(element)
        assert found is not None
        assert RevisionAssembler().feed(found) == RevisionAssembler().feed(payload)
    presence = st.presence_stanza(
        "d", "join", {"session": "s", "name": "N", "color": "#000000"}, "o"
    )
    assert nodes.revision_payload(ET.fromstring(tostring(presence.xml))) is None
