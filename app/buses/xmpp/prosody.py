"""A Prosody server run by the app ("managed" mode): configured, started and stopped for it.

The app writes a config under ``<data_dir>/prosody/``, registers its service account, and runs
``prosody -F`` as a child process bound to loopback. Pitfalls this handles, measured on Debian's
Prosody 0.12:

* only accounts in ``admins`` may create pubsub nodes, so the service account is an admin;
* ``pubsub_max_items`` defaults to 256; it is raised above the 1,000 items a revision node
  keeps (``sdk.xmpp.nodes.REVISION_MAX_ITEMS``);
* ``storage = "internal"`` rewrites a node's whole item file per publish (24 to 300 publishes/s);
  SQL storage (``lua-dbi-sqlite3``) sustains several hundred, so it is used when available;
* on SQLite, Prosody 0.12 keeps SQLite's rollback journal, whose every commit (one per
  published item) syncs the journal, the database and the directory: two fifths of Prosody's
  CPU while a document is typed in. Its database is switched to write-ahead logging (a
  setting kept in the file) before Prosody opens it: one sync per commit, as durable;
* Prosody keeps Nagle's algorithm on its sockets; it is turned off (``network_settings``);
* Prosody refuses to run as root unless told to; as root we set ``run_as_root``;
* there is no TLS on loopback, so plaintext authentication is allowed there and only there;
* documents' chat rooms are on ``conference.<domain>`` (mod_muc), where only admins, so the
  service account, may make rooms (``restrict_room_creation``), and every line goes to the
  archive (``mod_muc_mam``, kept), so a room's history outlives a restart.

It is also supervised: if Prosody exits while the app runs (a crash, a kill, the OOM killer),
it is started again, after a delay that grows while restarts keep failing, and whoever
registered with ``on_restart`` (the bridge) is told at once, so it need not wait out its own
reconnection backoff.

Everything it writes is private to the app's user: directories 0700, files 0600 (the
config, the service account's password, Prosody's database and log, bots' passwords).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.buses.xmpp.listeners import Listener, who_listens
from sdk.backoff import Backoff

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "Prosody is not installed. On Debian or Ubuntu run "
    "'apt-get install -y prosody lua-dbi-sqlite3' (or 'make run', which does), "
    "or set COLLAB_XMPP_MODE=external to use another XMPP server, or off to run without one."
)
_SQLITE_DRIVER_GLOB = "liblua5.*-dbi-sqlite3.so*"
# A Prosody that ran this long before exiting was healthy: the next restart is quick again.
HEALTHY_RUN_SECONDS = 60.0
# Lines a document's chat room keeps (and replays to whoever joins).
CHAT_HISTORY_LINES = 100

ServerState = Literal["stopped", "running", "restarting"]


class ProsodyError(RuntimeError):
    pass


def _private_umask() -> None:
    # In the child, before exec: what Prosody and prosodyctl create (its SQLite database,
    # its log, account data) is readable by the app's user only.
    os.umask(0o077)


def die_with_parent() -> None:
    """In a child, before exec (Linux): SIGTERM it when the process that started it dies,
    even by SIGKILL, so a crashed parent does not leave servers holding their ports."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _prosody_child() -> None:
    _private_umask()
    die_with_parent()


def write_ahead_log(database: Path) -> None:
    """Put the SQLite database at ``database`` (made if missing, private) in WAL mode, which
    SQLite records in the file itself, so Prosody's connections use it without being told.
    Prosody must not have it open: it is called before Prosody starts."""
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    connection = sqlite3.connect(database)
    try:
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    finally:
        connection.close()
    if mode != "wal":
        log.warning("Prosody's database %s stays in journal mode %s", database, mode)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (made if need be)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # one made by an earlier version, or under a loose umask
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, never readable by others meanwhile."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the file may be older than this rule
    with os.fdopen(fd, "w") as file:
        file.write(text)


@dataclass(frozen=True, slots=True)
class XmppAccount:
    """How to reach an XMPP server and log in to it; what a bot or the app needs."""

    jid: str
    password: str
    host: str
    port: int
    pubsub: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "jid": self.jid,
                "password": self.password,
                "host": self.host,
                "port": self.port,
                "pubsub": self.pubsub,
            },
            indent=2,
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for our inputs


def sql_storage_available() -> bool:
    roots = [
        Path("/usr/lib"),
        Path("/usr/lib/x86_64-linux-gnu"),
        Path("/usr/lib/aarch64-linux-gnu"),
    ]
    return any(any(root.glob(_SQLITE_DRIVER_GLOB)) for root in roots if root.exists())


class ManagedProsody:
    """Prosody as a child process. Use as ``async with ManagedProsody(...) as prosody:``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        domain: str = "localhost",
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "collab",
        max_items: int = 10000,
        restart_delay: float = 1.0,
    ) -> None:
        self.root = (data_dir / "prosody").resolve()
        self.domain = domain
        self.host = host
        self.port = port or free_port(host)
        self.username = username
        self.max_items = max_items
        self.config_path = self.root / "prosody.cfg.lua"
        self.log_path = self.root / "prosody.log"
        self.process: asyncio.subprocess.Process | None = None
        self.account: XmppAccount | None = None
        # Supervision: restarts wait restart_delay, doubling while they keep failing.
        self.restart_backoff = Backoff(initial=restart_delay, maximum=30.0, jitter=0.2)
        self.on_restart: list[Callable[[], None]] = []
        self.state: ServerState = "stopped"
        self.restarts = 0
        self.last_exit = ""  # how the last unexpected exit went, for /health
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pubsub_service(self) -> str:
        return f"pubsub.{self.domain}"

    @property
    def muc_service(self) -> str:
        return f"conference.{self.domain}"

    def _password(self) -> str:
        # Kept on disk so restarts (and bots' examples) reuse the same account.
        path = self.root / "service-password"
        if path.exists():
            path.chmod(0o600)  # written by a version that did not say so
            return path.read_text().strip()
        password = secrets.token_urlsafe(24)
        write_private(path, password + "\n")
        return password

    def _private_tree(self) -> None:
        if not self.root.parent.exists():
            private_dir(self.root.parent)  # the data dir, when we are the first to make it
        for directory in (self.root, self.root / "data", self.root / "certs"):
            private_dir(directory)
        # Files from a version that wrote them world-readable.
        for file in self.root.rglob("*"):
            if file.is_file():
                file.chmod(0o600)
            elif file.is_dir():
                file.chmod(0o700)

    def write_config(self) -> None:
        self._private_tree()
        sql = sql_storage_available()
        if sql:
            write_ahead_log(self.root / "data" / "prosody.sqlite")
        if not sql:
            log.warning(
                "lua-dbi-sqlite3 is missing: Prosody falls back to file storage, which is slow "
                "for pubsub (apt-get install -y lua-dbi-sqlite3)"
            )
        storage = (
            'storage = "sql"\nsql = { driver = "SQLite3", database = "prosody.sqlite" }'
            if sql
            else 'storage = "internal"'
        )
        as_root = "run_as_root = true" if os.geteuid() == 0 else ""
        admin = f"{self.username}@{self.domain}"
        config = f"""-- Written by xmpp-collab on every start; edits here are overwritten.
pidfile = {_lua(str(self.root / "prosody.pid"))}
-- Its database, log and pid file readable by the app's user only (Prosody's default: 027).
umask = "077"
data_path = {_lua(str(self.root / "data"))}
plugin_paths = {{ }}
{as_root}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = {_lua(str(self.log_path))} }} }}
interfaces = {{ {_lua(self.host)} }}
local_interfaces = {{ {_lua(self.host)} }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
certificates = {_lua(str(self.root / "certs"))}
-- Loopback only, no TLS: plaintext authentication is acceptable here and nowhere else.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
-- Send each stanza at once: with Nagle's algorithm on (Prosody's default) a small stanza
-- written while an earlier one is unacknowledged waits for the peer's delayed ACK, up to
-- 40 ms on Linux, and a forwarded edit crosses the server twice each way.
network_settings = {{ nagle = false }}
{storage}
admins = {{ {_lua(admin)} }}
modules_enabled = {{ "roster", "saslauth", "disco", "ping", "presence", "message", "iq" }}
modules_disabled = {{ "s2s", "tls", "offline", "c2s_direct_tls" }}
pubsub_max_items = {self.max_items}
expose_publisher = true

VirtualHost {_lua(self.domain)}

Component {_lua(self.pubsub_service)} "pubsub"
    pubsub_max_items = {self.max_items}
    expose_publisher = true

-- Documents' chat rooms: only admins (the service account) make rooms; each replays its last
-- 100 lines to who joins, from an archive (mod_muc_mam) that outlives a restart, and is
-- members-only from the start (the app opens it when accounts are off).
Component {_lua(self.muc_service)} "muc"
    modules_enabled = {{ "muc_mam" }}
    muc_log_by_default = true
    muc_log_all_rooms = true
    muc_log_expires_after = "never"
    restrict_room_creation = true
    max_history_messages = {CHAT_HISTORY_LINES}
    muc_room_default_history_length = {CHAT_HISTORY_LINES}
    muc_room_default_public = false
    muc_room_default_members_only = true
"""
        write_private(self.config_path, config)

    async def _prosodyctl(self, *args: str) -> str:
        # prosodyctl writes Prosody's SQLite file directly: one at a time across processes
        # (bots register while the server runs), and again if Prosody itself held the lock.
        private_dir(self.root)
        lock_path = self.root / ".prosodyctl.lock"
        with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.05)
            for attempt in range(20):
                code, text = await self._run_prosodyctl(*args)
                if code == 0:
                    return text
                # SQLite's lock, as prosodyctl reports it: at a statement ("database is
                # locked") or at the commit ("commit failed", seen once in CI while the
                # server wrote the same file). Both pass once Prosody lets go.
                if "database is locked" not in text and "commit failed" not in text:
                    break
                await asyncio.sleep(0.1 * (attempt + 1))
        raise ProsodyError(f"prosodyctl {args[0]} failed ({code}): {text.strip()}")

    async def _run_prosodyctl(self, *args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            "prosodyctl",
            "--config",
            str(self.config_path),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=_private_umask,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, output.decode(errors="replace")

    async def register(self, username: str, password: str) -> XmppAccount:
        """Create (or reset the password of) an account, e.g. for a bot."""
        await self._prosodyctl("register", username, self.domain, password)
        return XmppAccount(
            jid=f"{username}@{self.domain}",
            password=password,
            host=self.host,
            port=self.port,
            pubsub=self.pubsub_service,
        )

    async def unregister(self, username: str) -> None:
        """Delete an account (a removed bot's); one that does not exist is not an error."""
        try:
            await self._prosodyctl("deluser", f"{username}@{self.domain}")
        except ProsodyError as exc:
            if "not exist" not in str(exc):
                raise

    async def start(self) -> XmppAccount:
        if self._supervisor is not None:
            raise ProsodyError("this managed Prosody is already running")
        if shutil.which("prosody") is None or shutil.which("prosodyctl") is None:
            raise ProsodyError(INSTALL_HINT)
        self.write_config()
        password = self._password()
        await self._prosodyctl("register", self.username, self.domain, password)
        await self._stop_stale()
        await self._launch()
        assert self.process is not None
        self.account = XmppAccount(
            jid=f"{self.username}@{self.domain}",
            password=password,
            host=self.host,
            port=self.port,
            pubsub=self.pubsub_service,
        )
        write_private(self.root / "connection.json", self.account.to_json() + "\n")
        log.info(
            "Prosody %s running on %s:%d (pid %d)",
            self.domain,
            self.host,
            self.port,
            self.process.pid,
        )
        self._stopping = False
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        return self.account

    async def _launch(self) -> None:
        """Start the process and wait until it listens; on failure nothing is left running."""
        if not self.log_path.exists():
            write_private(self.log_path, "")
        log_offset = self.log_path.stat().st_size
        self.process = await asyncio.create_subprocess_exec(
            "prosody",
            "--config",
            str(self.config_path),
            "-F",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it
            preexec_fn=_prosody_child,
        )
        try:
            await self._wait_listening(log_offset)
        except BaseException:
            await self._terminate()
            raise
        self.state = "running"

    async def _supervise(self) -> None:
        """Start Prosody again whenever it exits without being asked to."""
        delays = self.restart_backoff.delays()
        while True:
            process = self.process
            if process is None:
                return
            started = time.monotonic()
            code = await process.wait()
            if self._stopping or self.process is not process:
                return
            if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                delays = self.restart_backoff.delays()  # a rare crash: back quickly
            self.state = "restarting"
            self.last_exit = _describe_exit(code)
            while not self._stopping:
                delay = next(delays)
                log.warning(
                    "Prosody (pid %d) %s; starting it again in %.1f s",
                    process.pid,
                    self.last_exit,
                    delay,
                )
                await asyncio.sleep(delay)
                try:
                    await self._stop_stale()
                    await self._launch()
                except (ProsodyError, OSError) as exc:
                    self.last_exit = f"{_describe_exit(code)}; restarting failed: {exc}"[:500]
                    continue
                break
            if self._stopping or self.process is None:
                return
            self.restarts += 1
            log.warning(
                "Prosody is running again (pid %d; restart %d)", self.process.pid, self.restarts
            )
            for callback in list(self.on_restart):
                try:
                    callback()
                except Exception:
                    log.exception("a Prosody restart listener failed")

    async def _stop_stale(self) -> None:
        """Stop a Prosody left running on our data directory by an app that was killed."""
        pidfile = self.root / "prosody.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            return
        if str(self.config_path) not in cmdline:
            return  # the pid was reused by something else
        log.warning("stopping a Prosody (pid %d) left running by an earlier run", pid)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            for _ in range(int(wait / 0.05)):
                if not Path(f"/proc/{pid}").exists():
                    return
                await asyncio.sleep(0.05)

    async def _wait_listening(self, log_offset: int) -> None:
        assert self.process is not None
        for _ in range(200):
            if self.process.returncode is not None:
                break
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            # Something answers; Prosody, if the port was free. If another program holds it,
            # Prosody logs so and runs on serving nothing, and we would talk to the other.
            if who_listens(self.process.pid, self.host, self.port) is Listener.OTHER:
                raise ProsodyError(  # (_launch stops the process)
                    f"port {self.port} on {self.host} is in use by another program, so Prosody "
                    "could not listen there; choose another (COLLAB_XMPP_MANAGED_PORT, or 0 "
                    f"for any free port). Prosody's log: {self.log_path}"
                )
            return
        tail = self.log_path.read_text(errors="replace")[log_offset:][-2000:]
        raise ProsodyError(
            f"Prosody did not start listening on {self.host}:{self.port}. "
            f"Its log ({self.log_path}) says:\n{tail}"
        )

    async def stop(self) -> None:
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if await self._terminate():
            log.info("Prosody stopped")
        self.state = "stopped"

    async def _terminate(self) -> bool:
        """Stop the process if it runs; True if it did."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        return True

    async def __aenter__(self) -> ManagedProsody:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"
