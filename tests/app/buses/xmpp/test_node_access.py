"""Issue 10's XMPP part, against real Prosody and ejabberd: with accounts on, a document's
nodes admit exactly the XMPP identities of its members, as their roles allow, and follow
every change of role within seconds.

An XMPP account with no role cannot subscribe or read; shared as a viewer it reads and
follows but cannot publish to the inbox; made an editor its edits land, written under its
account's name whatever the stanza says; revoked, it can neither read nor hear any more."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest

from sdk.xmpp.bot import AccessDenied, DocumentBot
from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import DocumentNodes, document_node, inbox_node
from sync.errors import BridgeError
from sync.protocol import Edit, OpId, Revision
from tests.app.buses.xmpp.test_supervision import eventually_true
from tests.app.live import LiveServer, external_xmpp, set_up_administrator
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0
DENIED = {"forbidden", "not-authorized", "not-allowed", "closed-node"}


async def denied(action: Any) -> bool:
    try:
        await action()
    except BridgeError as exc:
        assert exc.condition in DENIED, exc
        return True
    return False


async def allowed(action: Any) -> bool:
    try:
        await action()
    except BridgeError as exc:
        assert exc.condition in DENIED, exc
        return False
    return True


def test_nodes_admit_only_members_and_follow_their_roles(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    resource = f"acl-{secrets.token_hex(3)}"
    server = LiveServer(
        tmp_path / "app",
        auth="on",
        access_recheck_seconds=1,
        **external_xmpp(xmpp_server.service, resource),
    )
    server.start()
    outsider = xmpp_server.account("robo")
    doc = f"locked-{secrets.token_hex(3)}"

    async def scenario() -> None:
        async with server.http() as http:
            await set_up_administrator(http)
            created = await http.post(
                "/api/documents", json={"id": doc, "title": "Locked", "text": "secret\n"}
            )
            assert created.status_code == 201, created.text

            connection = XmppConnection(
                f"{outsider.jid}/probe", outsider.password, outsider.host, outsider.port
            )
            await connection.start(wait=TIMEOUT)
            nodes = DocumentNodes(connection.xmpp, outsider.pubsub)
            heard: list[str] = []
            connection.xmpp.add_event_handler(
                "pubsub_publish",
                lambda message: heard.append(message["pubsub_event"]["items"]["node"]),
            )
            try:
                # No role: the nodes exist (the app made them), and refuse this account.
                await eventually_true(
                    lambda: denied(lambda: nodes.subscribe(document_node(doc), bare=False)),
                    "the revision node refusing a stranger",
                )
                # (ejabberd lists a node's item ids to anyone who asks through disco; the
                # items themselves, which hold the text, it refuses, as Prosody does.)
                assert await denied(lambda: nodes._items(document_node(doc)))
                assert await denied(lambda: nodes.latest_snapshot(doc))

                # Shared with the outsider's account, as a bot owned by Ada: a viewer.
                bot = await http.post(
                    "/api/bots",
                    json={"name": "robo", "jid": outsider.jid, "documents": {doc: "viewer"}},
                )
                assert bot.status_code == 201, bot.text
                await eventually_true(
                    lambda: allowed(lambda: nodes.latest_snapshot(doc)),
                    "the snapshot node admitting the viewer's bot",
                    timeout=10,
                )
                await nodes.subscribe(document_node(doc), bare=False)
                snapshot = await nodes.latest_snapshot(doc)
                assert snapshot is not None and snapshot.text == "secret\n"
                # A viewer may not write: the XMPP server itself refuses the inbox.
                edit = Edit(0, OpId("robo-probe", 1), "@@ -0,0 +1,3 @@\n+hi \n")
                assert await denied(lambda: nodes.publish_edit(doc, edit, "robo"))

                # The bot SDK follows the document, and is refused its edit.
                follower = DocumentBot(
                    f"{outsider.jid}/sdk",
                    outsider.password,
                    doc,
                    host=outsider.host,
                    port=outsider.port,
                    pubsub=outsider.pubsub,
                    name="Not Ada",
                )
                revisions: list[Revision] = []
                follower.on_revision(lambda revision, _mine: revisions.append(revision))
                async with follower:
                    await follower.wait_synced(TIMEOUT)
                    assert follower.text == "secret\n"

                    # An editor now: its edit lands, under its account's name.
                    shared = await http.put(
                        f"/api/documents/{doc}/sharing/robo", json={"role": "editor"}
                    )
                    assert shared.status_code == 204, shared.text

                    async def edit_lands() -> bool:
                        if "robot " not in follower.text:
                            await follower.replace(0, 0, "robot ")
                        try:
                            await follower.wait_synced(2)
                        except TimeoutError:
                            return False
                        return True

                    await eventually_true(edit_lands, "the editor's bot editing", timeout=15)
                    text = (await http.get(f"/api/documents/{doc}/text")).json()
                    assert text["text"] == "robot secret\n"
                    history = (await http.get(f"/api/documents/{doc}/revisions")).json()
                    authors = {r["author"] for r in history["items"] if r["rev"] > 0}
                    assert authors == {"robo"}  # not "Not Ada", which the stanza said

                    # Revoked: the nodes refuse it, and it hears nothing more.
                    revoked = await http.delete(f"/api/documents/{doc}/sharing/robo")
                    assert revoked.status_code == 204
                    await eventually_true(
                        lambda: denied(lambda: nodes._items(document_node(doc))),
                        "the revision node refusing the revoked bot",
                        timeout=10,
                    )
                    seen, heard_before = follower.rev, len(heard)
                    restored = await http.post(f"/api/documents/{doc}/restore", json={"rev": 0})
                    assert restored.status_code == 201, restored.text
                    await asyncio.sleep(2.0)  # the app publishes within milliseconds
                    assert follower.rev == seen
                    assert len(heard) == heard_before
                    assert await denied(lambda: nodes.publish_edit(doc, edit, "robo"))
                    assert await denied(lambda: nodes.subscribe(inbox_node(doc), bare=False))

                # A new follower without a role is told why, at once.
                stranger = DocumentBot(
                    f"{outsider.jid}/late",
                    outsider.password,
                    doc,
                    host=outsider.host,
                    port=outsider.port,
                    pubsub=outsider.pubsub,
                )
                async with stranger:
                    with pytest.raises(AccessDenied):
                        await stranger.wait_synced(TIMEOUT)
            finally:
                await connection.stop()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
