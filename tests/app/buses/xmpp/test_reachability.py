"""The page is told when its instance cannot reach the others: with the managed Prosody
killed, every open editor gets a ``status`` message saying the bus is down (so the page shows
its banner), one who joins meanwhile gets it too, and all hear ``ok`` once Prosody is back.
Editing goes on throughout."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from app.buses.xmpp.prosody import free_port
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.buses.xmpp.test_supervision import eventually_true, prosody_pid
from tests.app.live import LiveServer, create_document
from tests.xmpp_support import needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


def test_editors_are_told_when_the_bus_is_down_and_when_it_is_back(tmp_path: Path) -> None:
    server = LiveServer(
        tmp_path / "data",
        xmpp_mode="managed",
        xmpp_managed_port=free_port(),
        xmpp_restart_delay=4.0,  # long enough to join and edit while it is down
    )
    server.start()

    async def scenario() -> None:
        await create_document(server, "cut-off", "hello\n")
        statuses: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []

        def keep(into: list[dict[str, Any]]) -> Any:
            return lambda message: into.append(message) if message.get("type") == "status" else None

        ann = WSClient(
            server.ws_url, "cut-off", SyncClient("ann"), name="Ann", on_message=keep(statuses)
        )
        async with ann:
            await ann.wait_synced(TIMEOUT)
            await asyncio.sleep(0.5)
            assert statuses == []  # nothing to say while all is well

            os.kill(prosody_pid(server.data_dir), signal.SIGKILL)
            await eventually_true(lambda: statuses, "the editor told the bus is down", 10)
            assert statuses[0]["bus"] == "down"
            assert "cannot reach the other servers" in statuses[0]["message"]

            bob = WSClient(
                server.ws_url, "cut-off", SyncClient("bob"), name="Bob", on_message=keep(late)
            )
            async with bob:
                await bob.wait_synced(TIMEOUT)
                await eventually_true(lambda: late, "a late joiner told too", 5)
                assert late[0]["bus"] == "down"
                ann.replace(len(ann.text), 0, "still editing\n")  # saved meanwhile
                await ann.wait_synced(TIMEOUT)
                await eventually_true(lambda: bob.text == ann.text, "bob seeing it")

                await eventually_true(
                    lambda: statuses[-1]["bus"] == "ok" and late[-1]["bus"] == "ok",
                    "everyone told it is back",
                    TIMEOUT,
                )
        assert [s["bus"] for s in statuses] == ["down", "ok"]

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
