"""Three app instances on one PostgreSQL database and one XMPP server, one document with
editors and a viewer on every instance: everyone converges on one text holding every edit
exactly once, and an outside XMPP subscriber sees every revision exactly once."""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import time
from pathlib import Path

import httpx
from slixmpp import Message

from app.buses.xmpp.prosody import XmppAccount
from bench.peers.plan import boundary
from sdk.websocket import WSClient
from sdk.xmpp import nodes
from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import DocumentNodes, RevisionAssembler, document_node
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, external_xmpp, server_text
from tests.app.stores.conftest import fresh_postgres  # noqa: F401  (a fixture)
from tests.xmpp_support import XmppServerForTests, prosody_in_thread

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
                client.replace(boundary(client.text, rng.random()), 0, f"<{index}:{n}>")
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
        # One instance sequenced (the lease holder); the two others forwarded their editors'
        # edits to it over XMPP rather than racing it for the database's head.
        forwarded = [metric(server, "collab_edits_forwarded_total") for server in servers]
        sequenced = [metric(server, 'collab_edits_total{placement="exact"}') for server in servers]
        assert sorted(f > 0 for f in forwarded) == [False, True, True], forwarded
        assert [s > 0 for s in sequenced] == [f == 0 for f in forwarded], (forwarded, sequenced)
        # Each forward was timed until its answer, and until its revision was folded in.
        answered = [
            metric(server, 'collab_forward_seconds_count{until="answered"}') for server in servers
        ]
        folded = [
            metric(server, 'collab_forward_seconds_count{until="folded"}') for server in servers
        ]
        assert answered == forwarded, (answered, forwarded)
        assert folded == forwarded, (folded, forwarded)
    finally:
        for server in servers:
            server.stop()


def metric(server: LiveServer, name: str) -> float:
    """One sample from the server's /metrics (0 if it has none yet)."""
    text = httpx.get(f"{server.http_url}/metrics", trust_env=False, timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def revisions_on_the_node(account: XmppAccount, doc_id: str) -> collections.Counter[int]:
    """How many times each revision is on the document's node, item by item."""
    connection = XmppConnection(
        f"{account.jid}/audit", account.password, account.host, account.port
    )
    await connection.start()
    try:
        nodes_of = DocumentNodes(connection.xmpp, account.pubsub)
        assembler = RevisionAssembler()
        counted: collections.Counter[int] = collections.Counter()
        ids = await nodes_of.item_ids(document_node(doc_id))
        for start in range(0, len(ids), 50):
            # Item by item: revisions_after() would fold duplicates away.
            for item in await nodes_of._items(document_node(doc_id), ids[start : start + 50]):
                for revision in assembler.feed(nodes.payload_of(item)):
                    counted[revision.rev] += 1
        return counted
    finally:
        await connection.stop()


def test_three_instances_and_the_xmpp_server_killed_mid_edit(
    fresh_postgres: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The XMPP server is SIGKILLed while people type on three instances; the app's
    supervision is not in play (external mode), the test's own restarts it. Editing goes on
    meanwhile; afterwards everyone converges, every marker once, and the node holds every
    revision exactly once: each instance published its own backlog, nobody another's."""
    with prosody_in_thread(tmp_path / "xmpp") as xmpp:
        service = xmpp.service
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

            async def scenario() -> str:
                editors = [
                    WSClient(server.ws_url, DOC, SyncClient(f"r{i}"), name=f"R{i}")
                    for i, server in enumerate(servers)
                ]
                for editor in editors:
                    await editor.start()
                for editor in editors:
                    await editor.wait_synced(timeout=20)

                async def type_markers(index: int, editor: WSClient) -> None:
                    for n in range(20):
                        if index == 0 and n == 5:
                            process = xmpp.prosody.process
                            assert process is not None
                            os.kill(process.pid, signal.SIGKILL)  # restarted by its supervisor
                        editor.replace(boundary(editor.text, n / 20), 0, f"<{index}:{n}>")
                        await asyncio.sleep(0.1)

                await asyncio.gather(*(type_markers(i, e) for i, e in enumerate(editors)))
                for editor in editors:
                    await editor.wait_synced(timeout=60)
                deadline = time.monotonic() + 60
                while len({e.text for e in editors}) > 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                texts = {e.text for e in editors}
                for editor in editors:
                    await editor.stop()
                assert len(texts) == 1, "the editors did not converge"
                return texts.pop()

            text = asyncio.run(scenario())
            for index in range(INSTANCES):
                for n in range(20):
                    assert text.count(f"<{index}:{n}>") == 1, f"<{index}:{n}> lost or doubled"
            rev, stored = asyncio.run(server_text(servers[0], DOC))
            assert stored == text
            assert xmpp.prosody.restarts >= 1

            async def node_complete() -> collections.Counter[int]:
                deadline = time.monotonic() + 30
                while True:
                    counted = await revisions_on_the_node(service, DOC)
                    if sorted(counted) == list(range(1, rev + 1)) or time.monotonic() > deadline:
                        return counted
                    await asyncio.sleep(0.5)

            counted = asyncio.run(node_complete())
            assert sorted(counted) == list(range(1, rev + 1)), "revisions missing on the node"
            assert {r: c for r, c in counted.items() if c != 1} == {}, "published twice"
        finally:
            for server in servers:
                server.stop()
