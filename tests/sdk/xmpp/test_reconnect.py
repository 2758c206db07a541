"""Reconnecting: a refused connection is retried on our capped schedule (slixmpp's own waits
1, 3, 7, ... up to 300 s), and ``retry_now`` connects at once when the server is known back."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sdk.backoff import Backoff
from sdk.xmpp.connection import XMPP_BACKOFF, XmppConnection, XmppState

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_client_tries_again_at_least_every_few_seconds() -> None:
    # Bots sat at "reconnecting" for minutes after a server restart; a few seconds is the cap.
    assert XMPP_BACKOFF.maximum * (1 + XMPP_BACKOFF.jitter) <= 5.0


async def test_refused_connections_are_retried_on_our_schedule() -> None:
    port = free_port()  # nothing listens here
    connection = XmppConnection(
        "bot@localhost/test", "secret", "127.0.0.1", port, backoff=Backoff(0.05, 0.1)
    )
    failures: list[object] = []
    connection.xmpp.add_event_handler("connection_failed", failures.append)
    try:
        await connection.start(wait=None)
        await asyncio.sleep(2.0)
        # slixmpp alone would have tried twice by now (at 0 s and 1 s), then waited 3 s, 7 s...
        assert len(failures) >= 10, failures
        assert connection.state is XmppState.CONNECTING
        assert connection.reconnecting
        assert connection.attempts >= 10
        assert f"cannot connect to 127.0.0.1:{port}" in connection.last_error
    finally:
        await connection.stop()
    assert connection.state is XmppState.STOPPED


async def test_retry_now_connects_without_waiting_out_the_backoff() -> None:
    port = free_port()
    connection = XmppConnection(
        "bot@localhost/test", "secret", "127.0.0.1", port, backoff=Backoff(30.0, 30.0, jitter=0)
    )
    failures: list[object] = []
    connection.xmpp.add_event_handler("connection_failed", failures.append)
    accepted = asyncio.Event()

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server: asyncio.Server | None = None
    try:
        await connection.start(wait=None)
        while not failures:
            await asyncio.sleep(0.01)
        # Refused once; the next attempt is 30 s away. The server comes back now:
        server = await asyncio.start_server(accept, "127.0.0.1", port)
        connection.retry_now()
        await asyncio.wait_for(accepted.wait(), 5.0)
    finally:
        await connection.stop()
        if server is not None:
            server.close()
            await server.wait_closed()
