"""A Prosody server run by the app ("managed" mode): configured, started and stopped for it.

The app writes a config under ``<data_dir>/prosody/``, registers its service account, and runs
``prosody -F`` as a child process bound to loopback. Pitfalls this handles, measured on Debian's
Prosody 0.12:

* only accounts in ``admins`` may create pubsub nodes, so the service account is an admin;
* ``pubsub_max_items`` defaults to 256; it is raised so a node can hold a useful history;
* ``storage = "internal"`` rewrites a node's whole item file per publish (24 to 300 publishes/s);
  SQL storage (``lua-dbi-sqlite3``) sustains several hundred, so it is used when available;
* Prosody refuses to run as root unless told to; as root we set ``run_as_root``;
* there is no TLS on loopback, so plaintext authentication is allowed there and only there.
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
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "Prosody is not installed. On Debian or Ubuntu run "
    "'apt-get install -y prosody lua-dbi-sqlite3' (or 'make run', which does), "
    "or set COLLAB_XMPP_MODE=external to use another XMPP server, or off to run without one."
)
_SQLITE_DRIVER_GLOB = "liblua5.*-dbi-sqlite3.so*"


class ProsodyError(RuntimeError):
    pass


def _die_with_parent() -> None:
    # Linux: SIGTERM Prosody when the app's process dies, even by SIGKILL, so a crashed app
    # does not leave a server holding the port.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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

    @property
    def pubsub_service(self) -> str:
        return f"pubsub.{self.domain}"

    def _password(self) -> str:
        # Kept on disk so restarts (and bots' examples) reuse the same account.
        path = self.root / "service-password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(24)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        sql = sql_storage_available()
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
"""
        (self.root / "certs").mkdir(exist_ok=True)
        self.config_path.write_text(config)

    async def _prosodyctl(self, *args: str) -> str:
        # prosodyctl writes Prosody's SQLite file directly: one at a time across processes
        # (bots register while the server runs), and again if Prosody itself held the lock.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".prosodyctl.lock").open("w") as lock:
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
                if "database is locked" not in text:
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

    async def start(self) -> XmppAccount:
        if shutil.which("prosody") is None or shutil.which("prosodyctl") is None:
            raise ProsodyError(INSTALL_HINT)
        self.write_config()
        password = self._password()
        await self._prosodyctl("register", self.username, self.domain, password)
        await self._stop_stale()
        self.log_path.touch()
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
            preexec_fn=_die_with_parent,
        )
        await self._wait_listening(log_offset)
        self.account = XmppAccount(
            jid=f"{self.username}@{self.domain}",
            password=password,
            host=self.host,
            port=self.port,
            pubsub=self.pubsub_service,
        )
        connection_file = self.root / "connection.json"
        connection_file.write_text(self.account.to_json() + "\n")
        connection_file.chmod(0o600)
        log.info(
            "Prosody %s running on %s:%d (pid %d)",
            self.domain,
            self.host,
            self.port,
            self.process.pid,
        )
        return self.account

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
            return
        tail = self.log_path.read_text(errors="replace")[log_offset:][-2000:]
        await self.stop()
        raise ProsodyError(
            f"Prosody did not start listening on {self.host}:{self.port}. "
            f"Its log ({self.log_path}) says:\n{tail}"
        )

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        log.info("Prosody stopped")

    async def __aenter__(self) -> ManagedProsody:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
