"""A real Prosody for tests: started once per session on a free loopback port."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.xmpp.prosody import ManagedProsody, XmppAccount

needs_prosody = pytest.mark.skipif(
    shutil.which("prosody") is None,
    reason="Prosody is not installed (apt-get install -y prosody lua-dbi-sqlite3)",
)


class ProsodyForTests:
    """A started ManagedProsody plus a helper to make throwaway accounts."""

    def __init__(self, prosody: ManagedProsody, loop: asyncio.AbstractEventLoop) -> None:
        self.prosody = prosody
        self.loop = loop
        assert prosody.account is not None
        self.service: XmppAccount = prosody.account

    def account(self, prefix: str = "bot") -> XmppAccount:
        name = f"{prefix}-{secrets.token_hex(4)}"
        return self.loop.run_until_complete(self.prosody.register(name, secrets.token_hex(8)))


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyForTests]:
    if shutil.which("prosody") is None:
        pytest.skip("Prosody is not installed (apt-get install -y prosody lua-dbi-sqlite3)")
    loop = asyncio.new_event_loop()
    server = ManagedProsody(Path(tmp_path_factory.mktemp("prosody")), port=0)
    loop.run_until_complete(server.start())
    try:
        yield ProsodyForTests(server, loop)
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


async def started(server: ManagedProsody) -> AsyncIterator[ManagedProsody]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
