"""A bot whose catch-up fails (a server still busy after a restart answers nothing in time)
does not stay behind: its timer tries again, and it says it is in sync once it is."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from app.buses.xmpp.bridge import XmppBridge
from sdk.xmpp.nodes import DocumentNodes
from sync.errors import BridgeError
from sync.protocol import Snapshot
from tests.app.buses.support import FakeHost, eventually
from tests.app.buses.xmpp.alone import bot_on, lone_bridge
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = [needs_prosody, pytest.mark.anyio]


@pytest.fixture
async def bridge(xmpp_server: XmppServerForTests) -> AsyncIterator[tuple[XmppBridge, FakeHost]]:
    async with lone_bridge(xmpp_server.service) as pair:
        yield pair


class Flaky(DocumentNodes):
    """The bot's node client, whose first reads of the snapshot node time out."""

    failures = 2

    async def latest_snapshot(self, doc_id: str) -> Snapshot | None:
        if self.failures:
            self.failures -= 1
            raise BridgeError("reading items: the XMPP server did not answer in time")
        return await super().latest_snapshot(doc_id)


async def test_a_failed_catch_up_is_tried_again(
    bridge: tuple[XmppBridge, FakeHost], xmpp_server: XmppServerForTests
) -> None:
    bus, host = bridge
    doc = f"recovery-{secrets.token_hex(3)}"
    host.opened.add(doc)
    await bus.subscribe(doc)
    host.commit(doc, 3)
    bus.publish(doc, host.committed[doc])
    bot = bot_on(xmpp_server.account("recovering"), doc, resend_after=0.5)
    flaky = Flaky(bot.connection.xmpp, bot.nodes.service)
    bot.nodes = flaky
    online: list[int] = []
    bot.on_online(online.append)
    async with bot:
        await bot.wait_synced(30)
        assert flaky.failures == 0  # it did fail, twice
        assert bot.text == host.documents[doc].text
        await eventually(lambda: online == [bot.rev], "the bot saying it is in sync, once")
