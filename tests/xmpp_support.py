"""Real XMPP servers for tests, each started once per session on free loopback ports: Prosody
(the default) and ejabberd (with the configuration the app ships for it)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from app.buses.xmpp.ejabberd import ManagedEjabberd, ejabberd_available
from app.buses.xmpp.prosody import ManagedProsody, XmppAccount

T = TypeVar("T")

needs_prosody = pytest.mark.skipif(
    shutil.which("prosody") is None,
    reason="Prosody is not installed (apt-get install -y prosody lua-dbi-sqlite3)",
)


class ProsodyForTests:
    """A started ManagedProsody plus a helper to make throwaway accounts."""

    def __init__(self, prosody: ManagedProsody, loop: asyncio.AbstractEventLoop) -> None:
        self.prosody = prosody
        self.loop = loop  # runs in its own thread (see the fixture)
        assert prosody.account is not None
        self.service: XmppAccount = prosody.account

    def account(self, prefix: str = "bot") -> XmppAccount:
        name = f"{prefix}-{secrets.token_hex(4)}"
        return _run_in(self.loop, self.prosody.register(name, secrets.token_hex(8)))


def _run_in(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)


@contextlib.contextmanager
def prosody_in_thread(directory: Path) -> Iterator[ProsodyForTests]:
    """A ManagedProsody (supervised: restarted if it dies) whose loop runs in a thread of its
    own: a test may be running another loop in this thread when it needs it (Playwright's
    sync API keeps one running). The thread lives as long as Prosody: its death signal is
    tied to the thread that started it."""
    if shutil.which("prosody") is None:
        pytest.skip("Prosody is not installed (apt-get install -y prosody lua-dbi-sqlite3)")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="prosody-loop", daemon=True)
    thread.start()
    server = ManagedProsody(directory, port=0)
    _run_in(loop, server.start())
    try:
        yield ProsodyForTests(server, loop)
    finally:
        _run_in(loop, server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyForTests]:
    with prosody_in_thread(Path(tmp_path_factory.mktemp("prosody"))) as server:
        yield server


async def started(server: ManagedProsody) -> AsyncIterator[ManagedProsody]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class EjabberdForTests:
    """A started ManagedEjabberd, with the same two things tests use of ProsodyForTests."""

    def __init__(self, server: ManagedEjabberd, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        assert server.account is not None
        self.service: XmppAccount = server.account

    def account(self, prefix: str = "bot") -> XmppAccount:
        name = f"{prefix}-{secrets.token_hex(4)}"
        return _run_in(self.loop, self.server.register(name, secrets.token_hex(8)))


@pytest.fixture(scope="session")
def ejabberd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdForTests]:
    if not ejabberd_available():
        pytest.fail(
            "ejabberd is not installed: run `bash .ci/system-deps.sh --browser` "
            "(apt-get install -y ejabberd)",
            pytrace=False,
        )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ejabberd-loop", daemon=True)
    thread.start()
    server = ManagedEjabberd(Path(tmp_path_factory.mktemp("ejabberd")))
    _run_in(loop, server.start())
    try:
        yield EjabberdForTests(server, loop)
    finally:
        _run_in(loop, server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


class EjabberdClusterForTests:
    """Two ejabberd nodes joined in one cluster. ``services`` is the service account as each
    node serves it (the same account, each node's port); ``service`` and ``account`` are on
    the first node, and known to both."""

    def __init__(self, nodes: list[ManagedEjabberd], loop: asyncio.AbstractEventLoop) -> None:
        self.nodes = nodes
        self.loop = loop
        self.services: list[XmppAccount] = []
        for node in nodes:
            assert node.account is not None
            self.services.append(node.account)
        self.service = self.services[0]

    def account(self, prefix: str = "bot") -> XmppAccount:
        name = f"{prefix}-{secrets.token_hex(4)}"
        return _run_in(self.loop, self.nodes[0].register(name, secrets.token_hex(8)))


@pytest.fixture(scope="session")
def ejabberd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdClusterForTests]:
    if not ejabberd_available():
        pytest.fail("ejabberd is not installed (apt-get install -y ejabberd)", pytrace=False)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ejabberd-cluster", daemon=True)
    thread.start()
    folder = Path(tmp_path_factory.mktemp("ejabberd-cluster"))
    cookie, password, run = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(3)
    nodes = [
        ManagedEjabberd(
            folder / name, node=f"collab-{name}-{run}", cookie=cookie, service_password=password
        )
        for name in ("one", "two")
    ]
    try:
        for node in nodes:
            _run_in(loop, node.start())
        _run_in(loop, nodes[1].join_cluster(nodes[0]))
        yield EjabberdClusterForTests(nodes, loop)
    finally:
        for node in nodes:
            _run_in(loop, node.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


XmppServerForTests = ProsodyForTests | EjabberdForTests | EjabberdClusterForTests


@pytest.fixture(scope="session", params=["prosody", "ejabberd"])
def xmpp_server(request: pytest.FixtureRequest) -> XmppServerForTests:
    """Each XMPP server the app supports, in turn: tests that take this run on both."""
    server: XmppServerForTests = request.getfixturevalue(request.param)
    return server
