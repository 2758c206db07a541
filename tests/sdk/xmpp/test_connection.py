"""The XMPP connection gives up on a stream that never becomes a session, and tries again."""

from __future__ import annotations

import asyncio

import pytest

from sdk.backoff import Backoff
from sdk.xmpp.connection import XmppConnection, XmppState

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_a_stream_that_never_becomes_a_session_is_dropped_and_tried_again() -> None:
    # A peer that takes the TCP connection and then says nothing, as a server does when it
    # fails a resource binding: without a watchdog the client would wait forever.
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = XmppConnection(
        "bot@localhost/test",
        "secret",
        "127.0.0.1",
        port,
        backoff=Backoff(initial=0.05, maximum=0.1),
        session_timeout=0.3,
    )
    try:
        await connection.start(wait=None)
        deadline = asyncio.get_running_loop().time() + 10
        while len(accepted) < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert len(accepted) >= 3, "the client did not try again"
        assert connection.state is XmppState.CONNECTING
        assert "no session within 0.3 s" in connection.last_error
    finally:
        await connection.stop()
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()
    assert connection.state is XmppState.STOPPED
