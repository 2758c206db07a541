"""Bots that follow a document are among its people: a page sees a bot join (marked as a
bot), someone who opens the document later finds it in the people present, and it leaves
when the bot stops. With accounts on, only a bot with a role on the document is listed."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from sdk.websocket import WSClient
from sdk.xmpp.bot import DocumentBot
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, eventually, external_xmpp
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


def bots(client: WSClient) -> list[dict[str, Any]]:
    return [p for p in client.people.values() if p.get("bot")]


def test_a_following_bot_is_listed_among_the_people_and_leaves_with_it(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    resource = f"people-{secrets.token_hex(3)}"
    service = xmpp_server.service
    server = LiveServer(tmp_path / "app", **external_xmpp(service, resource))
    server.start()
    account = xmpp_server.account("statsbot")
    doc = f"people-{secrets.token_hex(3)}"

    async def scenario() -> None:
        await create_document(server, doc, "hello\n")
        async with WSClient(server.ws_url, doc, SyncClient("ann"), name="Ann") as ann:
            await ann.wait_synced(TIMEOUT)
            bot = DocumentBot(
                f"{account.jid}/stats",
                account.password,
                doc,
                host=account.host,
                port=account.port,
                pubsub=account.pubsub,
                name="Stats",
                app=service.jid,
            )
            async with bot:
                await bot.wait_synced(TIMEOUT)
                await eventually(lambda: bots(ann), TIMEOUT, "the page seeing the bot")
                listed = bots(ann)[0]
                assert (listed["name"], listed["bot"]) == ("Stats", True)

                # Someone who comes later finds it among the people present.
                async with WSClient(server.ws_url, doc, SyncClient("bob"), name="Bob") as bob:
                    await bob.wait_synced(TIMEOUT)
                    await eventually(lambda: bots(bob), TIMEOUT, "a later visitor seeing the bot")
                    assert bots(bob)[0]["session"] == listed["session"]
            # Stopped: gone from the people.
            await eventually(lambda: not bots(ann), TIMEOUT, "the bot leaving")

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
