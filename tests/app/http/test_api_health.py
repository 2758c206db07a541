"""REST API: health, metrics, the error shape of unknown routes, and the OpenAPI document."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.stores.sql.store import SqlStore
from sync import patches
from sync.merge import changes_between
from tests.app.conftest import free_port
from tests.app.http.test_api_documents import assert_error, create

pytestmark = pytest.mark.anyio


def metric(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus' text format (0 if absent)."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    match = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_health_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["dependencies"]["database"] == {"status": "ok", "state": "ok", "detail": ""}
    assert body["dependencies"]["xmpp"]["status"] == "disabled"
    assert body["documents_loaded"] == 0


class ReportingBus:
    """Stands in for the XMPP bridge: health() and the precise report()."""

    def __init__(self, status: str, report: dict[str, str | int | float]) -> None:
        self.status = status
        self._report = report

    def health(self) -> tuple[str, str]:
        return self.status, f"{self._report['state']} (fake)"

    def report(self) -> dict[str, str | int | float]:
        return self._report


@contextlib.contextmanager
def bus_is(app: FastAPI, bus: ReportingBus) -> Iterator[None]:
    working = app.state.bus
    app.state.bus = bus
    try:
        yield
    finally:
        app.state.bus = working


async def test_health_says_precisely_how_xmpp_is_doing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    down = ReportingBus("down", {"state": "reconnecting", "backlog": 1532, "server": "restarting"})
    with bus_is(app, down):
        response = await client.get("/health")
    assert response.status_code == 200  # editing goes on without XMPP
    body = response.json()
    assert body["status"] == "degraded"
    assert body["dependencies"]["database"]["status"] == "ok"
    xmpp = body["dependencies"]["xmpp"]
    assert (xmpp["status"], xmpp["state"], xmpp["backlog"], xmpp["server"]) == (
        "down",
        "reconnecting",
        1532,
        "restarting",
    )

    catching_up = ReportingBus("ok", {"state": "connected", "backlog": 42, "server": "running"})
    with bus_is(app, catching_up):
        body = (await client.get("/health")).json()
    assert body["status"] == "ok"
    xmpp = body["dependencies"]["xmpp"]
    assert (xmpp["status"], xmpp["state"], xmpp["backlog"]) == ("ok", "publishing", 42)

    caught_up = ReportingBus("ok", {"state": "connected", "backlog": 0, "server": "external"})
    with bus_is(app, caught_up):
        xmpp = (await client.get("/health")).json()["dependencies"]["xmpp"]
    assert (xmpp["state"], xmpp["backlog"], xmpp["server"]) == ("connected", 0, "external")


async def test_ready_while_the_database_answers(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "reasons": []}
    # XMPP down does not stop editing, so by default the instance still takes traffic.
    with bus_is(app, ReportingBus("down", {"state": "reconnecting", "backlog": 3})):
        assert (await client.get("/ready")).status_code == 200


async def test_not_ready_without_the_database(client: httpx.AsyncClient, app: FastAPI) -> None:
    unreachable = SqlStore(create_async_engine("sqlite+aiosqlite:////nonexistent-dir/x.sqlite3"))
    working = app.state.store
    app.state.store = unreachable
    try:
        response = await client.get("/ready")
    finally:
        app.state.store = working
        await unreachable.engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert len(body["reasons"]) == 1 and body["reasons"][0].startswith("database down: ")
    assert (await client.get("/ready")).status_code == 200


async def test_not_ready_without_xmpp_when_it_is_required(
    settings: Settings, app: FastAPI, client: httpx.AsyncClient
) -> None:
    settings.ready_requires_xmpp = True
    with bus_is(app, ReportingBus("down", {"state": "reconnecting", "backlog": 0})):
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["xmpp reconnecting: reconnecting (fake)"]
    with bus_is(app, ReportingBus("ok", {"state": "connected", "backlog": 0})):
        assert (await client.get("/ready")).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////nonexistent-dir/collab.sqlite3",
        "postgresql+asyncpg://nobody@127.0.0.1:{port}/collab",
    ],
)
async def test_health_with_the_database_down_is_503(
    client: httpx.AsyncClient, app: FastAPI, url: str
) -> None:
    unreachable = SqlStore(create_async_engine(url.format(port=free_port())))
    working = app.state.store
    app.state.store = unreachable
    try:
        response = await client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["dependencies"]["database"]["status"] == "down"
        assert body["dependencies"]["database"]["detail"]
        # Other routes answer 503 in the common error shape, never a bare 500.
        for path in ("/api/documents", "/api/documents/x", "/api/documents/x/revisions"):
            assert_error(await client.get(path), 503, "database-unavailable")
    finally:
        app.state.store = working
        await unreachable.engine.dispose()
    assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not-found"),
        ("GET", "/api/documents/x/nothing-here", 404, "not-found"),
        ("POST", "/health", 405, "method-not-allowed"),
        ("PUT", "/api/documents", 405, "method-not-allowed"),
        ("DELETE", "/api/documents/x/text", 405, "method-not-allowed"),
    ],
)
async def test_unknown_routes_and_methods_have_the_error_shape(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, path)
    assert_error(response, status, code)
    if status == 405:
        assert response.headers["allow"]


async def test_openapi_documents_the_error_shape(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/documents/{doc_id}"]["get"]
    for status in ("404", "422"):
        content = operation["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "HTTPValidationError" not in json.dumps(schema)
    doc_id = operation["parameters"][0]
    assert doc_id["name"] == "doc_id"
    assert doc_id["schema"]["pattern"].startswith("^[A-Za-z0-9]")


async def test_metrics_count_restores(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    assert metric(before, "collab_edits_total", 'placement="exact"') == 0
    await create(client, id="m", text="a")
    for _ in range(2):
        assert (await client.post("/api/documents/m/restore", json={"rev": 0})).status_code == 201
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert metric(response.text, "collab_edits_total", 'placement="exact"') == 2
    assert metric(response.text, "collab_edit_seconds_count") == 2
    assert metric(response.text, "collab_connections") == 0
    assert "collab_http_request_seconds_count{" in response.text


async def receive(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind``, skipping presence and the like."""
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] == kind:
            return message
        assert message["type"] != "error", message


async def test_metrics_and_editors_with_a_websocket_editor(live_server: str) -> None:
    ws_url = live_server.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.post("/api/documents", json={"id": "live", "text": "hello"})
        assert response.status_code == 201
        async with connect(f"{ws_url}/ws/live") as ws:
            await ws.send(json.dumps({"type": "join", "client": "c1", "name": "Ann"}))
            joined = await receive(ws, "joined")
            assert joined["doc"]["id"] == "live"
            snapshot = await receive(ws, "snapshot")
            assert (snapshot["rev"], snapshot["text"]) == (0, "hello")

            doc = (await http.get("/api/documents/live")).json()
            assert doc["editors"] == 1
            listed = (await http.get("/api/documents")).json()["items"]
            assert listed[0]["editors"] == 1
            metrics = (await http.get("/metrics")).text
            assert metric(metrics, "collab_connections") == 1
            assert metric(metrics, "collab_documents_loaded") == 1

            patch = patches.patch_text("hello", changes_between("hello", "hello world"))
            edit = {"type": "edit", "base": 0, "client": "c1", "seq": 1, "patch": patch}
            await ws.send(json.dumps(edit))
            ack = await receive(ws, "revision")
            assert (ack["rev"], ack["client"], ack["seq"]) == (1, "c1", 1)

            metrics = (await http.get("/metrics")).text
            assert metric(metrics, "collab_edits_total", 'placement="exact"') == 1
            assert metric(metrics, "collab_edit_seconds_count") == 1
            text = (await http.get("/api/documents/live/text")).json()
            assert (text["rev"], text["text"]) == (1, "hello world")
            revisions = (await http.get("/api/documents/live/revisions")).json()
            assert revisions["items"][0]["author"] == "Ann"
        # The socket is closed: nobody is editing any more.
        for _ in range(100):
            if (await http.get("/api/documents/live")).json()["editors"] == 0:
                break
            await anyio.sleep(0.01)
        assert (await http.get("/api/documents/live")).json()["editors"] == 0
