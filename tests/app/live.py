"""A real server for tests: uvicorn in a subprocess on a free port, with its own data dir.

:class:`LiveServer` starts ``python -m uvicorn app.main:create_app --factory`` with settings
given as ``COLLAB_*`` environment variables, waits for ``/health``, and stops it with SIGTERM
or (to test crash safety) SIGKILL. It can be started again on the same port and data dir.
The helpers below speak the WebSocket protocol by hand, for tests that send what a well
behaved client never would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.buses.xmpp.prosody import XmppAccount
from app.serving import bound_socket

START_TIMEOUT_SECONDS = 60.0
WAIT_SECONDS = 20.0  # generous: a loaded CI machine must not turn slowness into failures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """One server process; ``settings`` become ``COLLAB_<NAME>`` environment variables.

    XMPP is off unless a test asks for it (``xmpp_mode="managed"``): these servers test the
    HTTP and WebSocket layers, and a managed Prosody would outlive a SIGKILL of its parent.
    """

    def __init__(self, data_dir: Path, **settings: object) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Accounts are off unless a test turns them on (auth="on"): most of these servers test
        # editing, not access.
        self.settings: dict[str, object] = {"xmpp_mode": "off", "auth": "off", **settings}
        # The port is bound now and handed to the server when it starts (``collab serve
        # --fd``): a port merely found free could be taken before the server binds it (by
        # another test worker's server, which would then answer this one's health check).
        self._reserved: socket.socket | None = bound_socket("127.0.0.1")
        weakref.finalize(self, self._reserved.close)  # if it is never started
        self.port: int = self._reserved.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"
        self._log: TextIO | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COLLAB_")}
        env["COLLAB_DATA_DIR"] = str(self.data_dir)
        for name, value in self.settings.items():
            env[f"COLLAB_{name.upper()}"] = str(value)
        return env

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError(f"the server on port {self.port} is already running")
        # Started again after a stop, it binds the same port anew.
        listening, self._reserved = self._reserved or bound_socket("127.0.0.1", self.port), None
        self._log = self.log_path.open("a")
        with listening:  # the server's copy is its own; ours closes once it has started
            self.process = subprocess.Popen(
                # `collab serve`: the very server and uvicorn options that run in production.
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "serve",
                    "--fd",
                    str(listening.fileno()),
                    "--log-level",
                    "warning",
                ],
                env=self.environment(),
                cwd=self.data_dir,  # no stray .env file from the repository
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(listening.fileno(),),
                start_new_session=True,  # its own process group, so kill() can take it all
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(base_url=self.http_url, trust_env=False, timeout=2.0) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    self._forget_process()
                    raise RuntimeError(f"the server exited while starting:\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/health").status_code == 200:
                        return
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server was not healthy in {START_TIMEOUT_SECONDS}s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, as a service manager would; returns the exit status."""
        return self._signal(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL: a crash, with no chance to flush or close anything."""
        return self._signal(signal.SIGKILL)

    def _signal(self, which: signal.Signals) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            if which is signal.SIGKILL:
                os.killpg(process.pid, which)  # the server and anything it started
            else:
                process.send_signal(which)
        try:
            status = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # leftovers in its group, if any
        self._forget_process()
        return status

    def _forget_process(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.http_url, trust_env=False, timeout=WAIT_SECONDS)


def external_xmpp(service: XmppAccount, resource: str) -> dict[str, object]:
    """Settings for a server that uses an XMPP server started elsewhere (by a test)."""
    return {
        "xmpp_mode": "external",
        "xmpp_jid": service.jid,
        "xmpp_password": service.password,
        "xmpp_host": service.host,
        "xmpp_port": service.port,
        "xmpp_pubsub": service.pubsub,
        "xmpp_resource": resource,
    }


@contextlib.contextmanager
def serving(data_dir: Path, **settings: object) -> Iterator[LiveServer]:
    server = LiveServer(data_dir, **settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- REST -----------------------------------------------------------------------------------


async def set_up_administrator(http: httpx.AsyncClient, name: str = "ada") -> None:
    """Make the first account (an administrator) through ``/api/auth/setup``, signed in on
    ``http`` from then on, with the CSRF token its writes need."""
    made = await http.post("/api/auth/setup", json={"name": name, "password": "a long secret 1"})
    assert made.status_code == 201, made.text
    http.headers["X-CSRF-Token"] = made.json()["csrf_token"]


async def create_document(server: LiveServer, doc_id: str, text: str = "", title: str = "") -> None:
    async with server.http() as http:
        response = await http.post(
            "/api/documents", json={"id": doc_id, "title": title or doc_id, "text": text}
        )
        assert response.status_code == 201, response.text


async def server_text(server: LiveServer, doc_id: str) -> tuple[int, str]:
    async with server.http() as http:
        response = await http.get(f"/api/documents/{doc_id}/text")
        assert response.status_code == 200, response.text
        body = response.json()
        return body["rev"], body["text"]


# -- raw WebSocket --------------------------------------------------------------------------


async def raw_websocket(
    base_url: str, path: str, *, receive_buffer: int = 0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket opened by hand (``base_url`` is ``http://host:port``): no library reads
    what the server sends, so a test can write what no client would, and read in bulk or
    not at all. ``receive_buffer`` sets the socket's SO_RCVBUF (0: the system's)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


def masked(opcode: Opcode, payload: bytes) -> bytes:
    """One frame as a client sends it (masked)."""
    return Frame(opcode, payload).serialize(mask=True, extensions=[])


def server_frames(data: bytes) -> list[Frame]:
    """The whole frames in what a server sent (unmasked); a partial last one is left out."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[Frame] = []
    while True:
        parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
            continue
        except EOFError:
            pass  # the data ran out: no whole frame left
        return frames


async def open_socket(server: LiveServer, doc_id: str, **options: Any) -> ClientConnection:
    return await connect(f"{server.ws_url}/ws/{doc_id}", proxy=None, **options)


async def receive(ws: ClientConnection, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, str), raw
    message: dict[str, Any] = json.loads(raw)
    return message


async def receive_until(
    ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], timeout: float = WAIT_SECONDS
) -> dict[str, Any]:
    """The first message ``wanted`` accepts; the ones before it are skipped."""
    async with asyncio.timeout(timeout):
        while True:
            message = await receive(ws, timeout)
            if wanted(message):
                return message


def of_type(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == kind and all(m.get(k) == v for k, v in fields.items())


async def join(
    ws: ClientConnection, client: str, *, name: str = "Raw", **fields: Any
) -> tuple[dict[str, Any], int, str]:
    """Join and read the catch-up (a snapshot by default); returns joined, rev and text."""
    await ws.send(json.dumps({"type": "join", "client": client, "name": name, **fields}))
    joined = await receive_until(ws, of_type("joined"))
    snapshot = await receive_until(ws, lambda m: m.get("type") in ("snapshot", "synced"))
    return joined, snapshot["rev"], snapshot.get("text", "")


async def closed_with(ws: ClientConnection, timeout: float = WAIT_SECONDS) -> tuple[int, str]:
    """Read until the server closes the socket; its close code and reason."""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    await ws.wait_closed()
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def eventually(
    condition: Callable[[], bool], timeout: float = WAIT_SECONDS, what: str = "a condition"
) -> None:
    """Wait until ``condition()`` holds, checking often; for conditions that span several
    clients (one client's own waits are in :class:`sdk.websocket.WSClient`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.01)
