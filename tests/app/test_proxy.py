"""The front door: a real HAProxy, configured by ``collab proxy-config``, before two real
instances sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from app.cli.proxy import ProxyConfig, render
from bench.peers.plan import boundary
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import LiveServer, external_xmpp, free_port
from tests.app.stores.conftest import fresh_postgres
from tests.xmpp_support import ProsodyForTests, prosody

__all__ = ["fresh_postgres", "prosody"]  # fixtures

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
DOCUMENTS = [f"doc-{n}" for n in range(12)]


def test_render_refuses_what_is_not_an_address() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        render(ProxyConfig("127.0.0.1:8080", ["127.0.0.1:80; rm -rf /"]))
    with pytest.raises(ValueError, match="at least one instance"):
        render(ProxyConfig("127.0.0.1:8080", []))


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(render(ProxyConfig("127.0.0.1:8080", ["127.0.0.1:8001", "[::1]:8002"])))
    checked = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


class Proxy:
    def __init__(self, folder: Path, instances: list[LiveServer]) -> None:
        self.port = free_port()
        self.config = folder / "haproxy.cfg"
        self.config.write_text(
            render(
                ProxyConfig(
                    f"127.0.0.1:{self.port}",
                    [f"127.0.0.1:{server.port}" for server in instances],
                    maxconn=1000,
                )
            )
        )
        self.log = folder / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def cluster(fresh_postgres: str, tmp_path: Path) -> Iterator[tuple[Proxy, list[LiveServer]]]:
    instances = [LiveServer(tmp_path / f"instance{n}", database_url=fresh_postgres) for n in (1, 2)]
    proxy = Proxy(tmp_path, instances)
    try:
        for server in instances:  # both migrate the fresh database as they start
            server.start()
        proxy.start()
        yield proxy, instances
    finally:
        proxy.stop()
        for server in instances:
            server.stop()


def wait_until_both_up(http: httpx.Client) -> None:
    """HAProxy starts with every server up; a request can still race its first check."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if http.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the proxy never answered /ready")


def instance_for(http: httpx.Client, doc_id: str) -> str:
    response = http.get(f"/api/documents/{doc_id}")
    assert response.status_code == 200, response.text
    return response.headers["x-collab-instance"]


def test_routes_by_document_upgrades_websockets_compresses_and_fails_over(
    cluster: tuple[Proxy, list[LiveServer]],
) -> None:
    proxy, instances = cluster
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as http:
        wait_until_both_up(http)
        for doc_id in DOCUMENTS:
            created = http.post("/api/documents", json={"id": doc_id, "title": doc_id, "text": ""})
            assert created.status_code == 201, created.text

        # Every request about one document lands on one instance, and the documents spread.
        placement = {doc_id: instance_for(http, doc_id) for doc_id in DOCUMENTS}
        for _ in range(3):
            for doc_id in DOCUMENTS:
                assert instance_for(http, doc_id) == placement[doc_id]
        assert set(placement.values()) == {"instance1", "instance2"}, proxy.log.read_text()[-3000:]

        # The WebSocket goes through (upgrade and tunnel) to the document's instance.
        doc_id = DOCUMENTS[0]
        ws_url = proxy.url.replace("http://", "ws://")

        async def upgrade_lands_on_the_same_instance() -> str:
            async with websockets.connect(f"{ws_url}/ws/{doc_id}") as socket:
                assert socket.response is not None
                return socket.response.headers["x-collab-instance"]

        assert asyncio.run(upgrade_lands_on_the_same_instance()) == placement[doc_id]

        async def edit_through_the_proxy(text: str) -> str:
            client = WSClient(ws_url, doc_id, SyncClient("through-proxy"), name="Proxied")
            await client.start()
            try:
                await client.wait_synced(timeout=10)
                client.replace(len(client.text), 0, text)
                await client.wait_synced(timeout=10)
                return client.text
            finally:
                await client.stop()

        assert asyncio.run(edit_through_the_proxy("hello")) == "hello"

        # Compressed when the client accepts it.
        page = http.get(f"/d/{doc_id}", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200
        assert page.headers.get("content-encoding") == "gzip"
        (bundle,) = re.findall(r'src="(/assets/editor-[^"]+\.js)"', page.text)
        script = http.get(bundle, headers={"Accept-Encoding": "gzip"})
        assert script.status_code == 200
        assert script.headers.get("content-encoding") == "gzip"
        assert len(script.content) > 1000  # httpx decoded it: the whole bundle came
        # Hashed names may be kept: the second copy comes from HAProxy's cache.
        again = http.get(bundle, headers={"Accept-Encoding": "gzip"})
        assert again.content == script.content
        assert "age" in again.headers, again.headers
        listing = http.get("/api/documents", headers={"Accept-Encoding": "gzip"})
        assert listing.headers.get("content-encoding") == "gzip"
        assert listing.json()["total"] == len(DOCUMENTS)

        # The instance holding the document stops: HAProxy's checks of /ready take it out,
        # and the document is served by the other one, with its text.
        holder = instances[0] if placement[doc_id] == "instance1" else instances[1]
        other = "instance2" if placement[doc_id] == "instance1" else "instance1"
        holder.stop()
        deadline = time.monotonic() + 20
        moved = None
        while time.monotonic() < deadline:
            response = http.get(f"/api/documents/{doc_id}/text")
            if response.status_code == 200:
                moved = response
                break
            time.sleep(0.2)
        assert moved is not None, proxy.log.read_text()[-2000:]
        assert moved.headers["x-collab-instance"] == other
        assert moved.json()["text"] == "hello"
        # Documents that were on the survivor did not move.
        for name, where in placement.items():
            if where == other:
                assert instance_for(http, name) == other
        assert asyncio.run(edit_through_the_proxy(" again")) == "hello again"


@pytest.fixture
def xmpp_cluster(
    fresh_postgres: str,
    prosody: ProsodyForTests,
    tmp_path: Path,
) -> Iterator[tuple[Proxy, list[LiveServer]]]:
    instances = [
        LiveServer(
            tmp_path / f"instance{n}",
            database_url=fresh_postgres,
            **external_xmpp(prosody.service, f"proxied-{n}-{secrets.token_hex(3)}"),
        )
        for n in (1, 2, 3)
    ]
    proxy = Proxy(tmp_path, instances)
    try:
        for server in instances:
            server.start()
        proxy.start()
        yield proxy, instances
    finally:
        proxy.stop()
        for server in instances:
            server.stop()


def test_an_instance_killed_mid_edit_loses_nothing(
    xmpp_cluster: tuple[Proxy, list[LiveServer]],
) -> None:
    """Editors reach one document through the proxy; the instance serving it is killed
    (SIGKILL) while they type. They reconnect through the proxy to another instance, send
    again what was not acknowledged, and end with one text holding every edit once."""
    proxy, instances = xmpp_cluster
    doc_id = "survives"
    ws_url = proxy.url.replace("http://", "ws://")
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as http:
        wait_until_both_up(http)
        created = http.post("/api/documents", json={"id": doc_id, "title": doc_id, "text": ""})
        assert created.status_code == 201, created.text
        holder_name = instance_for(http, doc_id)
    holder = instances[int(holder_name.removeprefix("instance")) - 1]

    async def scenario() -> tuple[list[str], int]:
        editors = [WSClient(ws_url, doc_id, SyncClient(f"k{n}"), name=f"K{n}") for n in range(4)]
        for editor in editors:
            await editor.start()
        for editor in editors:
            await editor.wait_synced(timeout=20)

        async def type_markers(index: int, editor: WSClient) -> None:
            for n in range(30):
                if index == 0 and n == 10:
                    await asyncio.to_thread(holder.kill)  # mid-run, while others type
                # Where a marker starts (or at the end), so that markers stay whole.
                editor.replace(boundary(editor.text, n / 30), 0, f"<{index}:{n}>")
                await asyncio.sleep(0.05)

        await asyncio.gather(*(type_markers(i, e) for i, e in enumerate(editors)))
        for editor in editors:
            await editor.wait_synced(timeout=60)
        deadline = time.monotonic() + 30
        while len({e.text for e in editors}) > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        texts = [e.text for e in editors]
        for editor in editors:
            await editor.stop()
        return texts, 4 * 30

    texts, markers = asyncio.run(scenario())
    assert len(set(texts)) == 1, "the editors did not converge"
    text = texts[0]
    for index in range(4):
        for n in range(30):
            assert text.count(f"<{index}:{n}>") == 1, f"<{index}:{n}> lost or duplicated"
    assert text.count("<") == markers
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as http:
        stored = http.get(f"/api/documents/{doc_id}/text")
        assert stored.status_code == 200
        assert stored.json()["text"] == text
        assert stored.headers["x-collab-instance"] != holder_name
