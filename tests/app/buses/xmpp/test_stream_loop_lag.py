"""No burst of stanzas holds the app's event loop: measured.

Any account on the XMPP server can send the app's account messages, as fast as the server
lets it, and the server delivers them back to back: one read of the app's socket can hold
thousands. A bridge runs in this test's own loop, with a probe (tests/app/lag_probe.py); the flooder
runs in another process, so that none of its work lands on this loop.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from app.buses.xmpp.prosody import XmppAccount
from tests.app.buses.xmpp.alone import lone_bridge
from tests.app.lag_probe import MAX_LAG_SECONDS, LagProbe
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = [needs_prosody, pytest.mark.anyio, pytest.mark.timeout(120)]

MESSAGES = 5000

# Logs in as the account, sends MESSAGES chat messages to the address given, waits until
# slixmpp has written them all, and says so.
FLOODER = """
import asyncio, sys
from sdk.xmpp.connection import XmppConnection

async def main(jid, password, host, port, to, count):
    connection = XmppConnection(jid + "/flood", password, host, int(port))
    await connection.start(wait=30)
    xmpp = connection.xmpp
    for n in range(int(count)):
        xmpp.send_message(mto=to, mbody=f"hello {n}", mtype="chat")
    await asyncio.wait_for(xmpp.waiting_queue.join(), 30)
    await asyncio.sleep(0.5)
    print("sent", flush=True)
    await connection.stop()

asyncio.run(main(*sys.argv[1:]))
"""


async def flood(account: XmppAccount, to: str, count: int) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FLOODER,
        account.jid,
        account.password,
        account.host,
        str(account.port),
        to,
        str(count),
        stdout=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0 and out.strip() == b"sent", out


async def test_a_burst_of_messages_to_the_app_holds_its_loop_under_50_ms(
    xmpp_server: XmppServerForTests,
) -> None:
    mallory = xmpp_server.account("mallory")
    async with lone_bridge(xmpp_server.service) as (bridge, _):
        to = str(bridge.connection.xmpp.boundjid.full)
        with LagProbe() as probe:
            await flood(mallory, to, MESSAGES)
            await asyncio.sleep(1.0)  # what was delivered is read by now
        assert bridge.connection.connected
        assert probe.worst < MAX_LAG_SECONDS, (
            f"{MESSAGES} messages held the loop for {probe.describe()}"
        )
