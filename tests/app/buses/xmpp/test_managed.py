"""Managed mode: the app's own Prosody, the example bots and `collab follow` against it."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.buses.xmpp.prosody import INSTALL_HINT, ManagedProsody, ProsodyError, free_port
from sdk.websocket import WSClient
from sdk.xmpp.connection import XmppConnection
from sync.client import SyncClient
from tests.app.live import LiveServer, create_document, server_text
from tests.xmpp_support import needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


def test_restart_keeps_the_service_account(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = ManagedProsody(tmp_path, port=free_port())
        first = await server.start()
        await server.stop()
        second = await server.start()
        await server.stop()
        assert first == second
        saved = json.loads((tmp_path / "prosody" / "connection.json").read_text())
        assert saved["password"] == first.password and saved["port"] == first.port
        assert oct((tmp_path / "prosody" / "connection.json").stat().st_mode)[-3:] == "600"

    asyncio.run(scenario())


def test_a_port_another_program_holds_is_a_clear_error_and_nothing_runs(tmp_path: Path) -> None:
    # Prosody does not exit when its port is taken: it logs so and runs on, serving nothing,
    # while connections to the port reach the other program (which answers them).
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        async def scenario() -> None:
            server = ManagedProsody(tmp_path, port=port)
            with pytest.raises(
                ProsodyError, match=f"port {port} on 127.0.0.1 is in use by another"
            ):
                await server.start()
            assert server.process is None
            pidfile = tmp_path / "prosody" / "prosody.pid"
            if pidfile.exists():
                assert not Path(f"/proc/{pidfile.read_text().strip()}").exists()

        asyncio.run(scenario())


def test_prosodys_database_is_in_wal_mode_and_its_stanzas_go_at_once(tmp_path: Path) -> None:
    """One sync per published item instead of the rollback journal's several: a database
    from a version that left it in rollback mode is switched, and keeps what it held."""
    database = tmp_path / "prosody" / "data" / "prosody.sqlite"
    database.parent.mkdir(parents=True)
    older = sqlite3.connect(database)
    older.execute("CREATE TABLE kept (value TEXT)")
    older.execute("INSERT INTO kept VALUES ('from before')")
    older.commit()
    assert older.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    older.close()

    async def scenario() -> None:
        server = ManagedProsody(tmp_path, port=free_port())
        account = await server.start()
        try:
            # Prosody itself writes to it: the account the app registered is in there.
            reader = sqlite3.connect(database)
            try:
                assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                assert reader.execute("SELECT value FROM kept").fetchall() == [("from before",)]
                users = reader.execute(
                    "SELECT DISTINCT user FROM prosody WHERE store = 'accounts'"
                ).fetchall()
                assert users == [(account.jid.split("@")[0],)]
            finally:
                reader.close()
            assert oct(database.stat().st_mode)[-3:] == "600"
            # Stanzas go out at once: Prosody's default keeps Nagle's algorithm on.
            config = (tmp_path / "prosody" / "prosody.cfg.lua").read_text()
            assert "network_settings = { nagle = false }" in config
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_missing_prosody_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run here
    with pytest.raises(ProsodyError) as info:
        asyncio.run(ManagedProsody(tmp_path).start())
    assert str(info.value) == INSTALL_HINT
    assert "apt-get install -y prosody lua-dbi-sqlite3" in INSTALL_HINT


def test_a_stale_prosody_is_stopped_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        port = free_port()
        orphan = ManagedProsody(tmp_path, port=port)
        await orphan.start()
        assert orphan.process is not None
        stale_pid = orphan.process.pid
        orphan.process = None  # forget it, as a killed app would
        fresh = ManagedProsody(tmp_path, port=port)
        await fresh.start()  # would fail to bind if the stale one still held the port
        try:
            assert not Path(f"/proc/{stale_pid}").exists() or _is_zombie(stale_pid)
        finally:
            await fresh.stop()

    asyncio.run(scenario())


def _is_zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status


@pytest.fixture
def managed_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "data", xmpp_mode="managed", xmpp_managed_port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Running:
    """A child process whose output lines we can wait for (read by a thread, so no line
    sits unseen in a buffer)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line in time; output so far: {self.lines}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def child_env(server: LiveServer) -> dict[str, str]:
    env = server.environment()
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_health_reports_the_managed_xmpp_server(managed_server: LiveServer) -> None:
    import httpx

    health = httpx.get(f"{managed_server.http_url}/health", trust_env=False).json()
    assert health["dependencies"]["xmpp"]["status"] == "ok"


def test_examples_and_follow_against_the_managed_server(managed_server: LiveServer) -> None:
    repo = Path(__file__).resolve().parents[4]
    env = child_env(managed_server)
    env["PYTHONPATH"] = str(repo)
    stats = Running([sys.executable, "-m", "examples.stats_bot", "ex"], env, repo)
    clock = Running([sys.executable, "-m", "examples.clock_bot", "ex"], env, repo)
    follow = Running([sys.executable, "-m", "app.cli", "follow", "ex"], env, repo)
    try:

        async def scenario() -> None:
            await create_document(managed_server, "ex", "three words here\n")
            stats.wait_for(lambda line: line.startswith("r0: 3 words, 1 lines"))
            clock.wait_for(lambda line: "type /help" in line)
            follow.wait_for(lambda line: line.startswith("'ex' at r0"))
            async with WSClient(managed_server.ws_url, "ex", SyncClient("ann"), name="Ann") as ann:
                await ann.wait_synced(TIMEOUT)
                ann.replace(len(ann.text), 0, "/roll\n")
                await ann.wait_synced(TIMEOUT)
                deadline = time.monotonic() + TIMEOUT
                while "🎲" not in ann.text and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                assert "/roll" not in ann.text and "🎲" in ann.text
            follow.wait_for(lambda line: line.startswith("r1  Ann  +6 '/roll?'"))
            follow.wait_for(lambda line: line.startswith("r2  clock-bot  +"))
            stats.wait_for(lambda line: "Ann" in line and "clock-bot" in line)
            assert (await server_text(managed_server, "ex"))[1] == ann.text

        asyncio.run(scenario())
    finally:
        for child in (stats, clock, follow):
            child.stop()


def test_accounts_registered_at_once_all_work(tmp_path: Path) -> None:
    # Bots started together register together; prosodyctl must not trip over the
    # database lock (each would otherwise fail, or leave an account without its password).
    async def scenario() -> None:
        async with ManagedProsody(tmp_path, port=free_port()) as server:
            accounts = await asyncio.gather(
                *(
                    ManagedProsody(tmp_path, port=server.port).register(f"b{i}", f"pw{i}")
                    for i in range(5)
                )
            )
            for account in accounts:
                connection = XmppConnection(
                    f"{account.jid}/t", account.password, account.host, account.port
                )
                await connection.start(wait=10)  # authenticates, or times out
                await connection.stop()

    asyncio.run(scenario())
