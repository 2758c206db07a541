"""Three app instances on one PostgreSQL database and one XMPP server, one document with
editors and a viewer on every instance: everyone converges on one text holding every edit
exactly once, and an outside XMPP subscriber sees every revision exactly once."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from pathlib import Path

from slixmpp import Message

from app.buses.xmpp.prosody import XmppAccount
from sdk.websocket import WSClient
from sdk.xmpp import nodes
from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import DocumentNodes, RevisionAssembler, document_node
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, external_xmpp, server_text
from tests.app.stores.conftest import fresh_postgres  # noqa: F401  (a fixture)
from tests.xmpp_support import XmppServerForTests

INSTANCES = 3
EDITORS_PER_INSTANCE = 2
EDITS_PER_EDITOR = 15
DOC = "shared-by-three"


async def outside_subscriber(
    account: XmppAccount, seen: collections.Counter[int]
) -> XmppConnection:
    """An XMPP client of its own, subscribed to the document's node: counts each revision
    number it is notified of."""
    connection = XmppConnection(
        f"{account.jid}/watch", account.password, account.host, account.port
    )
    await connection.start()
    assembler = RevisionAssembler()

    def on_publish(message: Message) -> None:
        if message["pubsub_event"]["items"]["node"] != document_node(DOC):
            return
        for revision in assembler.feed(nodes.payload_of(message["pubsub_event"]["items"]["item"])):
            seen[revision.rev] += 1

    connection.xmpp.add_event_handler("pubsub_publish", on_publish)
    await DocumentNodes(connection.xmpp, account.pubsub).subscribe(document_node(DOC), bare=False)
    return connection


async def edit_everywhere(servers: list[LiveServer], watcher: XmppAccount) -> None:
    seen: collections.Counter[int] = collections.Counter()
    editors = [
        WSClient(server.ws_url, DOC, SyncClient(f"e{i}-{n}"), name=f"E{i}-{n}")
        for i, server in enumerate(servers)
        for n in range(EDITORS_PER_INSTANCE)
    ]
    viewers = [
        WSClient(server.ws_url, DOC, SyncClient(f"v{i}"), name=f"V{i}")
        for i, server in enumerate(servers)
    ]
    everyone = editors + viewers
    for client in everyone:
        await client.start()
    for client in everyone:
        await client.wait_synced(timeout=20)
    subscriber = await outside_subscriber(watcher, seen)
    try:
        rng = random.Random(7)

        async def type_markers(index: int, client: WSClient) -> None:
            for n in range(EDITS_PER_EDITOR):
                # Where a marker starts (or at the end), so that markers stay whole.
                text = client.text
                starts = [i for i, char in enumerate(text) if char == "<"] + [len(text)]
                client.replace(rng.choice(starts), 0, f"<{index}:{n}>")
                await asyncio.sleep(rng.expovariate(10.0))

        await asyncio.gather(*(type_markers(i, c) for i, c in enumerate(editors)))
        for client in editors:
            await client.wait_synced(timeout=60)
        deadline = time.monotonic() + 60
        markers = len(editors) * EDITS_PER_EDITOR
        while time.monotonic() < deadline:
            texts = {client.text for client in everyone}
            if len(texts) == 1 and next(iter(texts)).count("<") == markers:
                break
            await asyncio.sleep(0.1)
        texts = {client.text for client in everyone}
        assert len(texts) == 1, "the clients did not converge"
        text = texts.pop()
        for index in range(len(editors)):
            for n in range(EDITS_PER_EDITOR):
                assert text.count(f"<{index}:{n}>") == 1, f"<{index}:{n}> lost or duplicated"
        rev, stored = await server_text(servers[0], DOC)
        assert stored == text
        # The outside subscriber: every revision exactly once, none missing.
        while time.monotonic() < deadline and len(seen) < rev:
            await asyncio.sleep(0.1)
        assert sorted(seen) == list(range(1, rev + 1))
        assert {number: count for number, count in seen.items() if count != 1} == {}
    finally:
        await subscriber.stop()
        for client in everyone:
            await client.stop()


def test_three_instances_one_document(
    xmpp_server: XmppServerForTests,
    fresh_postgres: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    service = xmpp_server.service
    servers = [
        LiveServer(
            tmp_path / f"instance{n}",
            database_url=fresh_postgres,
            **external_xmpp(service, f"instance{n}"),
        )
        for n in range(1, INSTANCES + 1)
    ]
    for server in servers:
        server.start()
    try:
        asyncio.run(create_document(servers[0], DOC, ""))
        asyncio.run(edit_everywhere(servers, xmpp_server.account("watcher")))
    finally:
        for server in servers:
            server.stop()
