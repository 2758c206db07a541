"""Issue 10's XMPP attack: another account on the XMPP server sends the app's account a
hand-made pubsub event. The app takes events only from the pubsub service, so nothing
changes, and editing goes on."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0060.stanza.pubsub_event import EventItem

from app.buses.xmpp import forwarding
from app.buses.xmpp.prosody import XmppAccount
from sdk.websocket import WSClient
from sdk.xmpp import stanza as st
from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import document_node
from sync.client import SyncClient
from sync.server import Sequencer
from tests.app.live import LiveServer, create_document, external_xmpp, server_text
from tests.sync.helpers import edit_on
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


async def eventually(condition: object, what: str, timeout: float = TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


def connection_of(account: XmppAccount) -> XmppConnection:
    return XmppConnection(f"{account.jid}/x", account.password, account.host, account.port)


@dataclass
class Scene:
    """The app on the shared XMPP server, Mallory's account on it, and a document's id."""

    server: LiveServer
    app_jid: str  # the instance's full JID: its account and resource
    mallory: XmppAccount
    doc: str


@pytest.fixture
def scene(tmp_path: Path, xmpp_server: XmppServerForTests) -> Iterator[Scene]:
    resource = f"app-{secrets.token_hex(3)}"
    server = LiveServer(tmp_path / "app", **external_xmpp(xmpp_server.service, resource))
    server.start()
    try:
        yield Scene(
            server,
            f"{xmpp_server.service.jid}/{resource}",
            xmpp_server.account("mallory"),  # another account on the same server
            f"doc-{secrets.token_hex(3)}",
        )
    finally:
        server.stop()


def test_a_forged_event_sent_to_the_app_changes_nothing(
    scene: Scene, xmpp_server: XmppServerForTests
) -> None:
    server, doc = scene.server, scene.doc

    async def scenario() -> None:
        await create_document(server, doc, "hello\n")
        mallory = connection_of(scene.mallory)
        async with (
            WSClient(server.ws_url, doc, SyncClient("ann"), name="Ann") as ann,
            WSClient(server.ws_url, doc, SyncClient("bob"), name="Bob") as bob,
        ):
            await ann.wait_synced(TIMEOUT)
            await bob.wait_synced(TIMEOUT)
            ann.replace(len(ann.text), 0, "one\n")
            await ann.wait_synced(TIMEOUT)
            await eventually(lambda: bob.text == ann.text, "bob seeing r1")
            before = ann.text

            # A revision that would fold (the next number, a valid patch and checksum), and
            # a deletion, each as a pubsub event from Mallory straight to the app's account.
            forger = Sequencer(before, 1)
            forged = forger.submit(edit_on(before, 1, "mallory", 1, 0, 0, "PWNED "), "Ann")
            await mallory.start(wait=TIMEOUT)
            try:
                for to in (scene.app_jid, xmpp_server.service.jid):
                    message = mallory.xmpp.make_message(mto=to, mtype="headline")
                    message["pubsub_event"]["items"]["node"] = document_node(doc)
                    item = EventItem()
                    item["id"] = str(forged.revision.rev)
                    item["payload"] = st.revision_stanza(forged.revision, doc).xml
                    message["pubsub_event"]["items"].append(item)
                    message.send()
                    deletion = mallory.xmpp.make_message(mto=to, mtype="headline")
                    deletion["pubsub_event"]["delete"]["node"] = document_node(doc)
                    deletion.send()
                # The app heard them all, and said what it dropped.
                await eventually(
                    lambda: server.log().count(f"dropped an event for '{document_node(doc)}'") >= 3,
                    "the app dropping the forged events",
                )
            finally:
                await mallory.stop()

            await asyncio.sleep(0.5)  # what a forged event would have done, it has done by now
            assert (ann.client.rev, ann.text) == (1, before)
            assert (bob.client.rev, bob.text) == (1, before)
            assert await server_text(server, doc) == (1, before)
            async with server.http() as http:
                xmpp = (await http.get("/health")).json()["dependencies"]["xmpp"]
            assert (xmpp["status"], xmpp["dropped_events"]) == ("ok", 4), xmpp

            # The document is neither wedged nor closed: edits go on.
            for word in ("two\n", "three\n"):
                ann.replace(len(ann.text), 0, word)
                await ann.wait_synced(TIMEOUT)
            bob.replace(0, 0, "zero\n")
            await bob.wait_synced(TIMEOUT)
            await eventually(lambda: ann.text == bob.text, "ann and bob agreeing")
            assert await server_text(server, doc) == (4, "zero\nhello\none\ntwo\nthree\n")
            assert "PWNED" not in ann.text

    asyncio.run(scenario())


def test_a_forward_from_another_account_is_refused_and_changes_nothing(scene: Scene) -> None:
    """Only the app's own instances (resources of its account) may hand it edits to
    sequence: anyone else's forward gets an IQ error ``forbidden``, and the text stays."""
    server, doc = scene.server, scene.doc

    async def scenario() -> None:
        await create_document(server, doc, "hello\n")
        mallory = connection_of(scene.mallory)
        await mallory.start(wait=TIMEOUT)
        try:
            edit = edit_on("hello\n", 0, "mallory", 1, 0, 0, "PWNED ")
            request = mallory.xmpp.make_iq_set(ito=scene.app_jid)
            request.append(forwarding.forward_payload(doc, edit, "Ann"))
            with pytest.raises(IqError) as refused:
                await request.send(timeout=TIMEOUT)  # type: ignore[no-untyped-call]
            assert refused.value.iq["error"]["condition"] == "forbidden"
        finally:
            await mallory.stop()
        assert "not another instance" in server.log()
        assert await server_text(server, doc) == (0, "hello\n")

    asyncio.run(scenario())
