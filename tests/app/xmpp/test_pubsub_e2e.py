"""End to end through a real Prosody: app instances, WebSocket clients and bots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.wsclient import WSClient
from app.xmpp.prosody import XmppAccount
from sync.client import SyncClient
from sync.xmpp.bot import DocumentBot
from tests.app.live import LiveServer, create_document, server_text
from tests.xmpp_support import ProsodyForTests

TIMEOUT = 30.0


def instance(data_dir: Path, service: XmppAccount, resource: str, **settings: object) -> LiveServer:
    return LiveServer(
        data_dir,
        xmpp_mode="external",
        xmpp_jid=service.jid,
        xmpp_password=service.password,
        xmpp_host=service.host,
        xmpp_port=service.port,
        xmpp_pubsub=service.pubsub,
        xmpp_resource=resource,
        **settings,
    )


@pytest.fixture
def two_instances(
    tmp_path: Path, prosody: ProsodyForTests
) -> Iterator[tuple[LiveServer, LiveServer]]:
    # Two processes, one database, one Prosody.
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    first = instance(tmp_path / "a", prosody.service, "a", database_url=database)
    second = instance(tmp_path / "b", prosody.service, "b", database_url=database)
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
