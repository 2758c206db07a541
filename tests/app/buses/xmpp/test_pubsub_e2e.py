"""End to end through a real Prosody: app instances, WebSocket clients and bots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.buses.xmpp.prosody import ManagedProsody, XmppAccount, free_port
from sdk.websocket import WSClient
from sdk.xmpp.bot import DocumentBot
from sync.client import SyncClient
from sync.errors import InvalidText
from sync.protocol import Edit, OpId
from tests.app.live import LiveServer, create_document, external_xmpp, server_text
from tests.xmpp_support import XmppServerForTests

TIMEOUT = 30.0


def instance(data_dir: Path, service: XmppAccount, resource: str, **settings: object) -> LiveServer:
    return LiveServer(data_dir, **external_xmpp(service, resource), **settings)


@pytest.fixture
def two_instances(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> Iterator[tuple[LiveServer, LiveServer]]:
    # Two processes, one database, one Prosody.
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    first = instance(tmp_path / "a", xmpp_server.service, "a", database_url=database)
    second = instance(tmp_path / "b", xmpp_server.service, "b", database_url=database)
    first.start()
    second.start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def eventually(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll: the conditions here span several clients, so no one client's events suffice."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def bot_for(account: XmppAccount, doc_id: str, name: str = "bot") -> DocumentBot:
    return DocumentBot(
        account.jid + "/t",
        account.password,
        doc_id,
        host=account.host,
        port=account.port,
        pubsub=account.pubsub,
        name=name,
        resend_after=2.0,
    )


def test_two_instances_converge_through_pubsub(
    two_instances: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_instances

    async def scenario() -> None:
        await create_document(first, "shared", "one two three\n")
        async with (
            WSClient(first.ws_url, "shared", SyncClient("ann"), name="Ann") as ann,
            WSClient(second.ws_url, "shared", SyncClient("bob"), name="Bob") as bob,
        ):
            await ann.wait_synced(TIMEOUT)
            await bob.wait_synced(TIMEOUT)
            for round_ in range(20):
                ann.replace(0, 0, f"a{round_} ")
                bob.replace(len(bob.text), 0, f"b{round_}😀 ")
                if round_ % 5 == 0:
                    bob.replace(0, 0, "同")  # same spot as Ann
                await asyncio.sleep(0.02)
            # No reconnects: Bob hears Ann's edits because instance b is subscribed.
            await ann.wait_synced(TIMEOUT)
            await bob.wait_synced(TIMEOUT)
            await eventually(lambda: ann.text == bob.text)
            assert ann.joins == bob.joins == 1
            for round_ in range(20):
                assert f"a{round_} " in ann.text and f"b{round_}😀 " in ann.text
            assert (await server_text(first, "shared"))[1] == ann.text
            assert (await server_text(second, "shared"))[1] == ann.text
            # Only Ann types now: nothing but the pubsub notification can tell instance b.
            ann.replace(len(ann.text), 0, "only Ann <&]]>\r\n")
            await ann.wait_synced(TIMEOUT)
            await eventually(lambda: bob.text == ann.text)
            assert bob.joins == 1

    asyncio.run(scenario())


def test_people_renames_and_deletions_cross_instances_through_pubsub(
    two_instances: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_instances

    async def scenario() -> None:
        await create_document(first, "people", "text\n")
        async with (
            WSClient(second.ws_url, "people", SyncClient("bob"), name="Bob") as bob,
            WSClient(first.ws_url, "people", SyncClient("ed"), name="Ed") as ed,
        ):
            await bob.wait_synced(TIMEOUT)
            await ed.wait_synced(TIMEOUT)
            # Once instance b hears a's revisions, it hears a's people too.
            ed.replace(0, 0, "x")
            await eventually(lambda: bob.text == ed.text)
            async with WSClient(
                first.ws_url, "people", SyncClient("ann"), name="Ann <&> 😀"
            ) as ann:
                await ann.wait_synced(TIMEOUT)
                assert ann.session is not None
                session = ann.session
                await eventually(lambda: session in bob.people)
                assert bob.people[session]["name"] == "Ann <&> 😀"
                ann.set_presence(cursor=1, anchor=0)
                await eventually(lambda: bob.people[session]["cursor"] == 1)
                assert bob.people[session]["anchor"] == 0
                async with first.http() as http:
                    renamed = await http.patch("/api/documents/people", json={"title": "New"})
                    assert renamed.status_code == 200, renamed.text
                await eventually(lambda: bob.title == "New")
            await eventually(lambda: session not in bob.people)  # Ann left
            async with first.http() as http:
                assert (await http.delete("/api/documents/people")).status_code == 204
            await eventually(lambda: bob.close_code == 4410)

    asyncio.run(scenario())


@pytest.fixture
def one_instance(tmp_path: Path, xmpp_server: XmppServerForTests) -> Iterator[LiveServer]:
    server = instance(tmp_path / "a", xmpp_server.service, "solo", max_document_chars=4000)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_bot_follows_and_edits_over_xmpp_alone(
    one_instance: LiveServer, xmpp_server: XmppServerForTests
) -> None:
    account = xmpp_server.account("follower")

    async def scenario() -> None:
        await create_document(one_instance, "botdoc", "Hello\r\nworld 😀\n")
        async with WSClient(one_instance.ws_url, "botdoc", SyncClient("ann"), name="Ann") as ann:
            await ann.wait_synced(TIMEOUT)
            ann.replace(0, 0, "Dear ")
            await ann.wait_synced(TIMEOUT)
            async with bot_for(account, "botdoc", name="Bot") as bot:
                await bot.wait_synced(TIMEOUT)
                # The full text, from XMPP alone. The app publishes in the background, so Ann's
                # acknowledged edit may reach the node just after the bot caught up: it then
                # arrives as a notification.
                await eventually(lambda: bot.text == ann.text)
                seen: list[tuple[int, bool]] = []
                bot.on_revision(lambda revision, mine: seen.append((revision.rev, mine)))
                # Browser edits reach the bot...
                for word in ("one ", "two ", "three "):
                    ann.replace(len(ann.text), 0, word)
                await ann.wait_synced(TIMEOUT)
                await eventually(lambda: bot.text == ann.text)
                # ...and the bot's edits reach the browser, acknowledged to the bot.
                await bot.append("from the bot <&]]>\n")
                await bot.wait_synced(TIMEOUT)
                await eventually(lambda: ann.text == bot.text)
                assert ann.text.endswith("from the bot <&]]>\n")
                assert [rev for rev, _ in seen] == list(range(seen[0][0], seen[-1][0] + 1))
                assert seen[-1][1] is True  # the last one was the bot's own
                rev, text = await server_text(one_instance, "botdoc")
                assert text == bot.text and rev == bot.rev

    asyncio.run(scenario())


def test_bot_edit_that_cannot_apply_is_refused_to_the_bot(
    one_instance: LiveServer, xmpp_server: XmppServerForTests
) -> None:
    account = xmpp_server.account("refused")

    async def scenario() -> None:
        await create_document(one_instance, "refuse", "abc")
        async with bot_for(account, "refuse") as bot:
            await bot.wait_synced(TIMEOUT)
            # Past the document's size limit (set below): refused, and the bot hears why.
            await bot.append("x" * 5000)
            await eventually(lambda: bool(bot.client.rejected))
            assert bot.client.rejected[0].code == "document-too-large"
            assert bot.text == "abc"
            await bot.append("!")  # the bot goes on working
            await bot.wait_synced(TIMEOUT)
            assert (await server_text(one_instance, "refuse"))[1] == "abc!"

    asyncio.run(scenario())


def test_prosody_killed_and_restarted(tmp_path: Path) -> None:
    async def scenario() -> None:
        xmpp = ManagedProsody(tmp_path / "xmpp", port=free_port())
        service = await xmpp.start()
        account = await xmpp.register("survivor", "pw")
        server = instance(tmp_path / "app", service, "k")
        server.start()
        try:
            await create_document(server, "crash", "before\n")
            async with (
                WSClient(server.ws_url, "crash", SyncClient("ann"), name="Ann") as ann,
                WSClient(server.ws_url, "crash", SyncClient("bob"), name="Bob") as bob,
                bot_for(account, "crash") as bot,
            ):
                await bot.wait_synced(TIMEOUT)
                seen: list[int] = []
                bot.on_revision(lambda revision, _mine: seen.append(revision.rev))
                ann.replace(len(ann.text), 0, "one\n")
                await ann.wait_synced(TIMEOUT)
                await eventually(lambda: bot.text == ann.text)

                assert xmpp.process is not None
                xmpp.process.kill()  # SIGKILL, mid-session
                await xmpp.process.wait()
                # As an external server: down until its operator starts it again (a managed
                # one would be restarted by its supervisor, tested in test_supervision.py).
                await xmpp.stop()
                await eventually(lambda: _xmpp_status(server) == "down")
                # Editing goes on for clients of the same instance meanwhile.
                for word in ("two\n", "three\n"):
                    ann.replace(len(ann.text), 0, word)
                    bob.replace(0, 0, word.upper())
                await ann.wait_synced(TIMEOUT)
                await bob.wait_synced(TIMEOUT)
                await eventually(lambda: ann.text == bob.text)
                acknowledged = ann.text

                await xmpp.start()  # same data, same port
                await eventually(lambda: _xmpp_status(server) == "ok", 60)
                # The app published what it committed during the outage; the bot caught up.
                await eventually(lambda: bot.text == acknowledged, 60)
                assert seen == list(range(seen[0], seen[-1] + 1)), "the bot skipped a revision"
                ann.replace(len(ann.text), 0, "after\n")
                await ann.wait_synced(TIMEOUT)
                await eventually(lambda: bot.text == ann.text == bob.text)
                assert (await server_text(server, "crash"))[1] == ann.text
        finally:
            server.stop()
            await xmpp.stop()

    asyncio.run(scenario())


def _xmpp_status(server: LiveServer) -> str:
    response = httpx.get(f"{server.http_url}/health", trust_env=False, timeout=5)
    status: str = response.json()["dependencies"]["xmpp"]["status"]
    return status


def test_hostile_content_keeps_the_stream_up(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    account = xmpp_server.account("hostile")
    server = instance(tmp_path / "app", xmpp_server.service, "h", max_message_bytes=8_000_000)
    server.start()

    async def scenario() -> None:
        await create_document(server, "hostile", "x")
        async with (
            WSClient(server.ws_url, "hostile", SyncClient("ann"), name="Ann <b>&amp;") as ann,
            bot_for(account, "hostile") as bot,
        ):
            await ann.wait_synced(TIMEOUT)
            await bot.wait_synced(TIMEOUT)
            # Markup and CDATA terminators are data, in text and in names.
            ann.replace(1, 0, "</revision>]]><![CDATA[&lt;&#1;")
            await ann.wait_synced(TIMEOUT)
            await eventually(lambda: bot.text == ann.text)
            # A megabyte paste: far over the 256 KiB stanza limit once escaped; sent in parts.
            paste = ("Ünïcödé 😀 字 \r\n" * 70_000)[:1_000_000]
            ann.replace(len(ann.text), 0, paste)
            await ann.wait_synced(60)
            await eventually(lambda: bot.text == ann.text, 60)
            # XML-forbidden characters never enter: refused over WebSocket...
            with pytest.raises(InvalidText):
                ann.replace(0, 0, "\x01")
            # ...and over XMPP, from a client that skips the SDK's checks.
            hostile = Edit(bot.rev, OpId(bot.client.client_id, 99), "@@ -0,0 +1 @@\n+%01\n")
            await bot.nodes.publish_edit("hostile", hostile, "raw")
            # The stream is still up: later edits still flow both ways.
            ann.replace(0, 0, "still here ")
            await ann.wait_synced(TIMEOUT)
            await eventually(lambda: bot.text == ann.text)
            await bot.append(" and the bot too")
            await bot.wait_synced(TIMEOUT)
            await eventually(lambda: ann.text == bot.text)
            assert _xmpp_status(server) == "ok"
            assert (await server_text(server, "hostile"))[1] == ann.text

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
