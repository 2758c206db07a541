"""The bridge's live node beyond the contract: what it does with bad items, and bots beside it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from slixmpp.xmlstream import ET, ElementBase

from app.buses.xmpp.bridge import XmppBridge
from app.config import Settings
from app.core.bus import PresenceEvent
from app.metrics import Metrics
from sdk.xmpp import stanza as st
from sdk.xmpp.bot import DocumentBot
from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import DocumentNodes, document_node, live_node
from tests.app.buses.support import FakeHost, Instance, XmppBackend, eventually, fence, new_doc
from tests.xmpp_support import XmppServerForTests

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
async def xmpp(xmpp_server: XmppServerForTests) -> AsyncIterator[XmppBackend]:
    backend = XmppBackend(xmpp_server)
    try:
        yield backend
    finally:
        await backend.close()


def raw(tag: str, attributes: dict[str, str], text: str = "") -> ElementBase:
    """A payload built by hand, as a client that skips the SDK's checks would."""
    element = ET.Element(f"{{{st.NS}}}{tag}", attributes)
    element.text = text
    return ElementBase(xml=element)


async def test_bad_items_are_logged_and_ignored(
    xmpp: XmppBackend, xmpp_server: XmppServerForTests, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await xmpp.instance("a"), await xmpp.instance("b")
    doc = new_doc()
    await a.open(doc)
    await b.open(doc)
    # Another publisher on the service account (only it may publish to these nodes).
    service = xmpp_server.service
    rogue = XmppConnection(f"{service.jid}/rogue", service.password, service.host, service.port)
    await rogue.start()
    try:
        nodes = DocumentNodes(rogue.xmpp, service.pubsub)
        good = {"origin": "x@y/z", "session": "s1", "color": "#000000", "rev": "0"}
        bad = [
            raw("presence", {**good, "event": "arrive"}, "Ann"),
            raw("presence", {**good, "event": "join", "color": "red"}, "Ann"),
            raw("presence", {**good, "event": "join", "cursor": "9" * 5000}, "Ann"),
            raw("presence", {**good, "event": "join"}, "n" * 65),
            raw("presence", {**good, "event": "join"}, "%FF"),
            raw("presence", {**good, "event": "join"}, "%01"),
            raw("presence", {"event": "join", "session": "s1", "color": "#000000"}, "Ann"),
            raw("renamed", {"origin": "x@y/z"}, "t" * 201),
            raw("renamed", {"origin": "x@y/z"}, ""),
            raw("unknown", {"origin": "x@y/z"}),
        ]
        with caplog.at_level(logging.WARNING, logger="app.buses.xmpp.bridge"):
            for payload in bad:
                await nodes._publish(live_node(doc), [("", payload)])
            huge = {"base": "0", "author": "a", "client": "c", "seq": "1", "checksum": "0:0"}
            await nodes._publish(
                document_node(doc), [("1", raw("revision", {**huge, "rev": "9" * 5000}))]
            )
            await fence(a, b, doc)  # published after the bad items: they were handled
        assert b.host.presence(doc) == [] and b.host.of("renamed", doc) == []
        assert b.host.revs(doc) == []
        ignored = [r for r in caplog.records if "ignoring a bad item" in r.getMessage()]
        # Each bad item but the unknown element (no payload of ours), and the revision; a and
        # b both listen, so each is logged twice.
        assert len(ignored) == 2 * len(bad)
        # The stream is up and the bridge still works.
        await a.bus.document_renamed(doc, "Still here")
        await eventually(lambda: b.host.of("renamed", doc) == ["Still here"], "a good rename")
        assert b.bus.health()[0] == "ok"
    finally:
        await rogue.stop()


async def test_bots_follow_beside_the_live_node_and_hear_deletions(
    xmpp: XmppBackend, xmpp_server: XmppServerForTests
) -> None:
    a, b = await xmpp.instance("a"), await xmpp.instance("b")
    doc = new_doc()
    for instance in (a, b):
        await instance.open(doc)
    a.commit(doc, 3)
    account = xmpp_server.account("follower")
    bot = DocumentBot(
        f"{account.jid}/t",
        account.password,
        doc,
        host=account.host,
        port=account.port,
        pubsub=account.pubsub,
        resend_after=2.0,
    )
    async with bot:
        await bot.wait_synced(10)
        assert bot.text == host_text(a, doc)
        person = {"session": "s1", "name": "Ann", "color": "#000000", "cursor": 1}
        a.bus.relay_presence(doc, PresenceEvent("join", {**person, "anchor": None, "rev": 3}))
        await a.bus.document_renamed(doc, "Renamed")
        a.commit(doc, 2)
        await eventually(lambda: bot.rev == 5, "the bot hears r4-r5")
        assert bot.text == host_text(a, doc) and not bot.deleted
        await eventually(lambda: b.host.of("renamed", doc) == ["Renamed"], "b hears the rename")
        await a.bus.document_deleted(doc)
        await eventually(lambda: bot.deleted, "the bot hears the deletion")
        await eventually(lambda: b.host.of("deleted", doc) == [None], "b hears the deletion")


def host_text(instance: Instance, doc_id: str) -> str:
    return instance.host.documents[doc_id].text


async def test_presence_held_through_an_outage_is_sent_coalesced(xmpp: XmppBackend) -> None:
    a, b = await xmpp.instance("a"), await xmpp.instance("b")
    doc, other = new_doc(), new_doc()
    for instance in (a, b):
        await instance.open(doc)
        await instance.open(other)
    await xmpp.outage(a)
    ann: dict[str, object] = {"session": "ann", "name": "Ann", "color": "#000000"}
    ann.update(cursor=None, anchor=None, rev=0)
    bob = {**ann, "session": "bob", "name": "Bob"}
    a.bus.relay_presence(doc, PresenceEvent("join", ann))
    a.bus.relay_presence(doc, PresenceEvent("update", {**ann, "cursor": 5}))
    a.bus.relay_presence(doc, PresenceEvent("update", bob))
    a.bus.relay_presence(doc, PresenceEvent("update", {**bob, "cursor": 9}))
    a.bus.relay_presence(other, PresenceEvent("join", bob))  # came and went: nothing to say
    a.bus.relay_presence(other, PresenceEvent("leave", bob))
    await a.bus.document_renamed(doc, "First")
    await a.bus.document_renamed(doc, "Second")
    await xmpp.recover(a)
    await fence(a, b, other)  # sent after the rest
    heard = [(e.event, e.person) for e in b.host.presence(doc)]
    assert heard == [("join", {**ann, "cursor": 5}), ("update", {**bob, "cursor": 9})]
    assert b.host.presence(other) == []
    assert b.host.of("renamed", doc) == ["Second"]


async def test_a_document_without_fan_out_is_reported_and_tried_again(
    xmpp_server: XmppServerForTests,
) -> None:
    # A bridge on an account that may not create nodes (only the service account may):
    # nothing it commits for a new document can reach anyone, and /health must say so.
    settings = Settings(_env_file=None, xmpp_connect_timeout=10.0)
    bridge = XmppBridge(
        xmpp_server.account("not-the-service"),
        resource="unprivileged",
        settings=settings,
        metrics=Metrics(),
    )
    host = FakeHost()
    await bridge.start(host)
    try:
        doc = new_doc()
        host.opened.add(doc)
        await bridge.subscribe(doc)
        await eventually(lambda: doc in bridge.unprepared, "the failure is recorded")
        assert bridge.report()["documents_without_fanout"] == 1
        status, detail = bridge.health()
        assert status == "ok"  # connected: editing and other documents go on
        assert f"no fan-out for 1 open document(s), e.g. {doc}: " in detail
        assert "creating node" in bridge.unprepared[doc]
        # Closing the document forgets it.
        host.opened.discard(doc)
        await bridge.unsubscribe(doc)
        assert doc not in bridge.unprepared
    finally:
        await bridge.stop()
