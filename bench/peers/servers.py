"""The servers under test, each a fresh process on a free loopback port:

- ``node``: ``@y/websocket-server``'s own ``server.js`` (HOST and PORT from the environment);
- ``pycrdt``: pycrdt-websocket (``pycrdt_app.py``) under uvicorn, in the peers' venv, with
  the uvicorn options ours chooses (``app/serving.py``, where it exists);
- ``ours``: ``collab serve``, as deployed, with its defaults: SQLite (WAL, synchronous=FULL)
  in a fresh data directory and a managed Prosody on a free port;
- ``ours-pg``: the same on a throwaway PostgreSQL database, dropped afterwards.

Ours gets limits that the benchmark's own traffic must not hit (rate, burst, send queue);
everything else is the default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.peers.env import PeersEnv
from bench.peers.procstat import cmdline, descendants

SERVERS = ("node", "pycrdt", "ours", "ours-pg")
PROTOCOL = {"node": "yjs", "pycrdt": "yjs", "ours": "ours", "ours-pg": "ours"}
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
OUR_LIMITS = {
    # The peers check no credentials either (and the harness creates documents over REST).
    "COLLAB_AUTH": "off",
    "COLLAB_EDITS_PER_SECOND": "100000",
    "COLLAB_EDIT_BURST": "1000000",
    "COLLAB_SEND_QUEUE_LIMIT": "1000000",
}
START_TIMEOUT = 60.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    database: str | None = None  # ours-pg: the throwaway database
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return PROTOCOL[self.name]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prosody_pids(self) -> list[int]:
        return [pid for pid in descendants(self.pid) if "prosody" in cmdline(pid)]

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "PYTHONPATH"))}
    env.update(extra)
    return env


# The project's editable install finds any module of ``app``, ``sdk`` or ``sync`` in the work
# tree; run from a snapshot, ours must find only the snapshot's, so that finder goes.
SNAPSHOT_ONLY = (
    "import sys; sys.meta_path[:] = "
    "[f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]; "
)


def uvicorn_options(ours_source: Path) -> dict[str, Any]:
    """How ours has uvicorn serve it (``app.serving.uvicorn_options``), or {} for uvicorn's
    defaults where that module does not exist (before it did, ``collab serve`` used those)."""
    # ``http`` and ``ws`` may be ours' own protocol classes (subclasses of uvicorn's,
    # app/serving.py): each is named "<uvicorn's name>+ClassName" after the uvicorn protocol
    # it extends, which is what pycrdt gets.
    probe = textwrap.dedent(
        """
        import importlib, json
        from uvicorn.config import HTTP_PROTOCOLS, WS_PROTOCOLS
        from app.serving import uvicorn_options
        bases = {}
        for name, path in {**HTTP_PROTOCOLS, **WS_PROTOCOLS}.items():
            if name == "auto" or not path:
                continue
            module, _, attribute = path.partition(":")
            try:
                bases[getattr(importlib.import_module(module), attribute)] = name
            except (ImportError, AttributeError):  # that protocol's library is absent
                pass
        def named(value):
            if isinstance(value, str | bool) or value is None:
                return value
            base = next(bases[cls] for cls in value.__mro__ if cls in bases)
            return base + "+" + value.__name__
        print(json.dumps({k: named(v) for k, v in uvicorn_options().items()}))
        """
    )
    probe = SNAPSHOT_ONLY + probe
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ours_source,  # not the project root, which ``-c`` would put first on the path
        env=_environment(PYTHONPATH=str(ours_source)),
        capture_output=True,
        text=True,
        check=False,
    )
    options: dict[str, Any] = json.loads(done.stdout) if done.returncode == 0 else {}
    return options


def _uvicorn_flags(port: int, options: dict[str, Any]) -> list[str]:
    flags = [*("--host", "127.0.0.1", "--port", str(port)), *("--log-level", "warning")]
    for name in ("loop", "http", "ws"):
        if name in options:
            flags += [f"--{name}", str(options[name]).partition("+")[0]]
    if "ws_per_message_deflate" in options:
        flags += ["--ws-per-message-deflate", str(options["ws_per_message_deflate"]).lower()]
    return flags


async def start(
    name: str, env: PeersEnv, workdir: Path, run: int, ours_source: Path, options: dict[str, Any]
) -> Server:
    """Start ``name`` and wait until it answers HTTP. Ours runs the ``app`` package found in
    ``ours_source`` (a snapshot of a commit, or the work tree); ``options`` are its uvicorn
    options, which pycrdt-websocket gets too."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    database = None
    if name == "node":
        command = [str(env.node), str(env.node_server)]
        environ = _environment(HOST="127.0.0.1", PORT=str(port))
        cwd, health = env.node_dir, "/"
    elif name == "pycrdt":
        command = [str(env.python), "-m", "uvicorn", "pycrdt_app:create_app", "--factory"]
        command += ["--app-dir", str(Path(__file__).parent), *_uvicorn_flags(port, options)]
        environ, cwd, health = _environment(), workdir, "/"
    else:
        data = workdir / f"{name}-data"
        data.mkdir()
        settings = {"COLLAB_DATA_DIR": str(data), "COLLAB_XMPP_MANAGED_PORT": "0", **OUR_LIMITS}
        settings["COLLAB_LOG_LEVEL"] = "warning"
        settings["PYTHONPATH"] = str(ours_source)
        if name == "ours-pg":
            database = f"bench_peers_{os.getpid()}_{run}"
            await create_database(database)
            settings["COLLAB_DATABASE_URL"] = f"{_asyncpg_url(POSTGRES_ADMIN_URL)}/{database}"
        serve = SNAPSHOT_ONLY + "from app.cli.main import main; main()"
        command = [sys.executable, "-c", serve, "serve"]
        command += [*("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning")]
        environ, cwd, health = _environment(**settings), data, "/health"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, port, process, log_path, database)
    try:
        await _wait_healthy(server, health)
    except BaseException:
        await stop(server)
        raise
    return server


async def _wait_healthy(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited while starting: …{server.log_tail(400)}")
        with contextlib.suppress(OSError):
            status = await asyncio.to_thread(_get_status, server.http_url + path)
            if status == 200:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{server.name} not healthy in {START_TIMEOUT:g}s: …{server.log_tail(400)}")


def _get_status(url: str) -> int:
    with _NO_PROXY.open(url, timeout=2) as response:
        status: int = response.status
        return status


async def create_document(server: Server, doc_id: str) -> None:
    """Ours only: a document must exist before anyone joins it."""
    body = json.dumps({"id": doc_id, "title": doc_id, "text": ""}).encode()
    request = urllib.request.Request(
        server.http_url + "/api/documents",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )

    def post() -> int:
        with _NO_PROXY.open(request, timeout=30) as response:
            status: int = response.status
            return status

    status = await asyncio.to_thread(post)
    if status != 201:
        raise RuntimeError(f"creating document '{doc_id}' on {server.name} answered {status}")


async def stop(server: Server) -> None:
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # what it started (Prosody), if still there
    if server.database is not None:
        await drop_database(server.database)


# -- PostgreSQL -----------------------------------------------------------------------------


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.asynccontextmanager
async def _admin() -> Any:
    import asyncpg  # the project's venv has it (our PostgreSQL driver)

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL + "/postgres", timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def create_database(name: str) -> None:
    async with _admin() as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')


async def drop_database(name: str) -> None:
    async with _admin() as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def backend_pids(name: str) -> list[int]:
    """The PostgreSQL server processes serving database ``name`` (their CPU is ours too)."""
    async with _admin() as admin:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
        return [int(row["pid"]) for row in rows]


async def postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        async with _admin() as admin:
            await admin.fetchval("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc!r}"
    return None
