"""Bots' edits through the inbox are held to a WebSocket's limits, per sender: a rate with a
burst, and a size. A refused edit is answered to the bot, and the bot SDK hands it over."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from app.buses.xmpp.bridge import XmppBridge
from app.config import Settings
from sdk.xmpp.bot import DocumentBot
from sync.protocol import EditError, Snapshot
from tests.app.buses.support import FakeHost, eventually
from tests.app.buses.xmpp.alone import bot_on, lone_bridge
from tests.sync.helpers import edit_on
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = [needs_prosody, pytest.mark.anyio]
BURST = 3
MAX_BYTES = 2048


@pytest.fixture
async def bridge(xmpp_server: XmppServerForTests) -> AsyncIterator[tuple[XmppBridge, FakeHost]]:
    settings = Settings(
        _env_file=None,
        edits_per_second=0.01,  # nothing refills during the test
        edit_burst=BURST,
        max_message_bytes=MAX_BYTES,
    )
    async with lone_bridge(xmpp_server.service, settings) as pair:
        yield pair


def limited_bot(xmpp_server: XmppServerForTests, doc: str, name: str) -> DocumentBot:
    # No resends: each refusal is counted once.
    return bot_on(xmpp_server.account(name), doc, resend_after=600)


async def test_inbox_edits_are_rate_and_size_limited_per_bot(
    bridge: tuple[XmppBridge, FakeHost], xmpp_server: XmppServerForTests
) -> None:
    bus, host = bridge
    doc = f"limits-{secrets.token_hex(3)}"
    host.opened.add(doc)
    await bus.subscribe(doc)
    # A snapshot to start from, so the bots need not ask for one (which would cost a token).
    await bus.nodes.publish_snapshot(doc, await host.snapshot(doc))
    flooder = limited_bot(xmpp_server, doc, "flooder")
    other = limited_bot(xmpp_server, doc, "other")
    refused: list[EditError] = []
    flooder.on_error(refused.append)
    async with flooder, other:
        await flooder.wait_synced()
        await other.wait_synced()
        client = flooder.client.client_id
        for seq in range(1, 2 * BURST + 1):
            edit = edit_on("", 0, client, 100 + seq, 0, 0, f"{seq}")
            await flooder.nodes.publish_edit(doc, edit, "flooder")
        await eventually(lambda: len(refused) == BURST, "the refusals reaching the bot")
        heard = [edit.op_id.seq for edit, _author in host.of("edit", doc)]
        assert heard == [101, 102, 103]
        assert [(e.op_id.seq, e.code) for e in refused] == [
            (104, "rate-limited"),
            (105, "rate-limited"),
            (106, "rate-limited"),
        ]
        assert "edits per second from flooder-" in refused[0].message

        # Another bot has its own allowance.
        await other.nodes.publish_edit(doc, edit_on("", 0, "o", 1, 0, 0, "o"), "other")
        await eventually(lambda: len(host.of("edit", doc)) == 4, "the other bot's edit")

        # Too big is refused before the rate is even looked at, and the SDK says so.
        await flooder.append("y" * (MAX_BYTES + 100))
        await eventually(lambda: len(refused) == BURST + 1, "the size refusal")
        assert refused[-1].code == "payload-too-large"
        assert f"the limit is {MAX_BYTES}" in refused[-1].message
        assert flooder.errors[-1] == refused[-1]
        await asyncio.sleep(0.2)
        assert flooder.text == ""  # the refused edit is taken out of the bot's text
        assert len(host.of("edit", doc)) == 4

        # Snapshot requests cost a token too: the flooder has none left, the other bot has.
        answered: list[int] = []
        publish_snapshot = bus.nodes.publish_snapshot

        async def counting(doc_id: str, snapshot: Snapshot) -> None:
            answered.append(snapshot.rev)
            await publish_snapshot(doc_id, snapshot)

        bus.nodes.publish_snapshot = counting  # type: ignore[method-assign]
        for _ in range(5):
            await flooder.nodes.request_snapshot(doc)
        await other.nodes.request_snapshot(doc)
        await eventually(lambda: len(answered) == 1, "the other bot's request answered")
        await asyncio.sleep(0.3)
        assert len(answered) == 1
