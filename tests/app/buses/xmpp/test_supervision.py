"""Supervision: the managed Prosody comes back after it dies, and nothing is lost meanwhile.

The app runs its own Prosody. Killed with SIGKILL while people edit, it is started again by the
app; the bridge reconnects as soon as it is back and publishes every revision committed during
the outage (well over a thousand here); a bot following the document catches up within
seconds of the recovery without anyone editing again, and says it is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.buses.xmpp.accounts import bot_account
from app.buses.xmpp.prosody import ManagedProsody, free_port
from app.config import Settings
from sdk.websocket import WSClient
from sdk.xmpp.bot import DocumentBot
from sdk.xmpp.connection import XmppConnection
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, server_text
from tests.xmpp_support import needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0
# Long enough for the editors below to commit well over a thousand revisions while Prosody
# is down (they need about a second on this machine); the test checks that they did.
RESTART_DELAY = 6.0
OUTAGE_REVISIONS = 1200
EDITORS = 4


async def eventually_true(condition: Any, what: str, timeout: float = TIMEOUT) -> float:
    """Poll ``condition`` (sync or async) until true; returns how long it took."""
    started = time.monotonic()
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


async def xmpp_health(server: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url, trust_env=False) as http:
        body: dict[str, Any] = (await http.get("/health")).json()
        return dict(body["dependencies"]["xmpp"])


def prosody_pid(data_dir: Path) -> int:
    return int((data_dir / "prosody" / "prosody.pid").read_text().strip())


def test_a_killed_prosody_is_restarted_and_told_about(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = ManagedProsody(tmp_path, port=free_port(), restart_delay=0.2)
        restarted: list[float] = []
        server.on_restart.append(lambda: restarted.append(time.monotonic()))
        account = await server.start()
        try:
            assert server.process is not None and server.state == "running"
            first = server.process.pid
            os.kill(first, signal.SIGKILL)
            await eventually_true(lambda: restarted, "the restart", 20)
            assert server.process is not None and server.process.pid != first
            assert (server.state, server.restarts) == ("running", 1)
            assert server.last_exit == "was killed by SIGKILL"
            # Same port, same service account.
            connection = XmppConnection(
                f"{account.jid}/t", account.password, "127.0.0.1", account.port
            )
            await connection.start(wait=10)
            await connection.stop()
        finally:
            await server.stop()
        # Stopped on purpose: nothing starts it again.
        await asyncio.sleep(0.5)
        assert server.process is None and server.state == "stopped" and len(restarted) == 1

    asyncio.run(scenario())


@pytest.fixture
def managed(tmp_path: Path) -> Any:
    server = LiveServer(
        tmp_path / "data",
        xmpp_mode="managed",
        xmpp_managed_port=free_port(),
        xmpp_restart_delay=RESTART_DELAY,
        # The editors below type as fast as acknowledgements come back.
        edits_per_second=100_000,
        edit_burst=100_000,
        sqlite_synchronous="normal",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def type_lines(client: WSClient, prefix: str, count: int) -> None:
    """``count`` edits, each acknowledged before the next: ``count`` revisions."""
    for number in range(count):
        client.replace(len(client.text), 0, f"{prefix}{number}\n")
        await client.wait_synced(TIMEOUT)


def test_prosody_killed_while_editing_everything_is_published_and_the_bot_catches_up(
    managed: LiveServer,
) -> None:
    async def scenario() -> None:
        await create_document(managed, "outage", "start\n")
        settings = Settings(_env_file=None, data_dir=managed.data_dir, xmpp_mode="managed")
        account = await bot_account(settings, "follower")
        bot = DocumentBot(
            f"{account.jid}/follow",
            account.password,
            "outage",
            host=account.host,
            port=account.port,
            pubsub=account.pubsub,
            name="follower",
        )
        online: list[int] = []
        bot.on_online(online.append)
        editors = [
            WSClient(managed.ws_url, "outage", SyncClient(f"ed{i}"), name=f"Ed{i}")
            for i in range(EDITORS)
        ]
        async with bot:
            await bot.wait_synced(TIMEOUT)
            for editor in editors:
                await editor.start()
            try:
                for editor in editors:
                    await editor.wait_synced(TIMEOUT)
                await type_lines(editors[0], "before ", 3)
                await eventually_true(lambda: bot.rev == 3, "the bot following before the kill")
                assert online == [0]

                killed = prosody_pid(managed.data_dir)
                os.kill(killed, signal.SIGKILL)
                await eventually_true(
                    lambda: _status_is(managed, "down"), "/health saying XMPP is down", 10
                )
                await asyncio.gather(
                    *(
                        type_lines(editor, f"{i}:", OUTAGE_REVISIONS // EDITORS)
                        for i, editor in enumerate(editors)
                    )
                )
                head, text = await server_text(managed, "outage")
                assert head == 3 + OUTAGE_REVISIONS
                during = await xmpp_health(managed)
                # Everything above was committed while Prosody was down.
                assert during["status"] == "down", during
                assert during["backlog"] >= OUTAGE_REVISIONS, during
                assert bot.rev == 3

                # No edit from here on. The app restarts Prosody and publishes the backlog.
                await eventually_true(
                    lambda: _caught_up(managed), "/health: XMPP back, nothing left to publish"
                )
                back_at = time.monotonic()
                after = await xmpp_health(managed)
                assert (after["server"], after["server_restarts"]) == ("running", 1), after
                restarted = prosody_pid(managed.data_dir)
                assert restarted != killed and Path(f"/proc/{restarted}").exists()
                took = await eventually_true(
                    lambda: bot.rev == head, f"the bot at r{head} (it is at r{bot.rev})", 20
                )
                assert bot.text == text
                assert time.monotonic() - back_at < 15, f"the bot took {took:.1f} s"
                # Its catch-up may finish after the notifications already brought it up to date.
                await eventually_true(lambda: len(online) >= 2, "the bot saying it is back", 10)
                assert online[-1] <= head

                # Every revision made during the outage is on the node, none skipped.
                published = await bot.nodes.revisions_after("outage", 3)
                assert [r.rev for r in published] == list(range(4, head + 1))
            finally:
                for editor in editors:
                    await editor.stop()

    asyncio.run(scenario())


async def _status_is(server: LiveServer, status: str) -> bool:
    return bool((await xmpp_health(server))["status"] == status)


async def _caught_up(server: LiveServer) -> bool:
    health = await xmpp_health(server)
    return bool(health["state"] == "connected" and health["backlog"] == 0)
