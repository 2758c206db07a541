"""Extensions at the edges: a refusal before any work (REST and the WebSocket handshake), a
refused edit, and the reports every step makes, against the app served by a real uvicorn."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.config import Settings
from app.core.bus import PresenceEvent
from app.core.errors import Refusal, Refused
from app.core.extensions import (
    Committed,
    ConnectionRequest,
    Extension,
    Settled,
    SubmitRequest,
)
from app.core.store import DocumentInfo
from app.main import create_app
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.conftest import serve
from tests.app.live import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class Gate(Extension):
    """Lets in requests bearing ``token``; refuses edits containing "forbidden"."""

    priority = 10

    def __init__(self) -> None:
        self.asked: list[ConnectionRequest] = []

    async def authenticate(self, request: ConnectionRequest) -> None:
        self.asked.append(request)
        if request.path == "/health":
            return
        if request.headers.get("authorization") != "Bearer token":
            raise Refused("send 'Authorization: Bearer token'", Refusal.UNAUTHENTICATED)
        if request.doc_id == "secret":
            raise Refused("'secret' is not yours", Refusal.FORBIDDEN)

    async def before_submit(self, request: SubmitRequest) -> None:
        if "forbidden" in request.edit.patch:
            raise Refused("that word is not allowed here", code="word-refused")


class Journal(Extension):
    """Writes down every report it hears."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def saw(self, kind: str) -> list[Any]:
        return [value for name, value in self.events if name == kind]

    async def on_load(self, doc_id: str) -> None:
        self.events.append(("load", doc_id))

    async def on_unload(self, doc_id: str) -> None:
        self.events.append(("unload", doc_id))

    async def after_commit(self, committed: Committed) -> None:
        self.events.append(("commit", [r.rev for r in committed.revisions]))

    async def after_submit(self, settled: Settled) -> None:
        self.events.append(("settled", settled.placement.value))

    async def edit_refused(self, doc_id: str, code: str) -> None:
        self.events.append(("refused", code))

    async def on_presence(self, doc_id: str, event: PresenceEvent) -> None:
        self.events.append(("presence", (event.event, event.person["name"])))

    async def document_created(self, info: DocumentInfo, text: str) -> None:
        self.events.append(("created", (info.id, text)))

    async def document_renamed(self, info: DocumentInfo) -> None:
        self.events.append(("renamed", info.title))

    async def document_deleted(self, doc_id: str) -> None:
        self.events.append(("deleted", doc_id))


AUTH = {"Authorization": "Bearer token"}


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def guarded_app(settings: Settings, gate: Gate, journal: Journal) -> FastAPI:
    return create_app(settings, extensions=[journal, gate])


@pytest.fixture
async def url(guarded_app: FastAPI) -> AsyncIterator[str]:
    async with serve(guarded_app) as base:
        yield base


async def test_rest_calls_are_refused_before_any_work_with_401_or_403(
    url: str, gate: Gate, journal: Journal
) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        refused = await http.post("/api/documents", json={"title": "T", "id": "doc"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
        assert "Bearer token" in refused.json()["error"]["message"]
        assert journal.saw("created") == []  # nothing was done

        created = await http.post("/api/documents", json={"title": "S", "id": "secret"})
        assert created.status_code == 401
        ok = await http.post(
            "/api/documents", json={"title": "S", "id": "secret", "text": "x"}, headers=AUTH
        )
        assert ok.status_code == 201  # the path names no document yet
        forbidden = await http.get("/api/documents/secret/text", headers=AUTH)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "forbidden"

        assert (await http.get("/health")).status_code == 200  # the extension let it through
    asked = [r for r in gate.asked if r.path == "/api/documents/secret/text"]
    assert asked and asked[0].doc_id == "secret" and asked[0].transport == "http"
    assert asked[0].headers["authorization"] == "Bearer token"


async def test_a_websocket_is_refused_at_the_handshake_with_the_json_error(
    url: str, gate: Gate
) -> None:
    ws_url = url.replace("http", "ws") + "/ws/anything"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "unauthenticated"
    asked = [r for r in gate.asked if r.transport == "websocket"]
    assert asked[-1].doc_id == "anything" and asked[-1].path == "/ws/anything"

    with pytest.raises(InvalidStatus) as forbidden:
        async with connect(url.replace("http", "ws") + "/ws/secret", additional_headers=AUTH):
            pass
    assert forbidden.value.response.status_code == 403


async def test_hooks_report_each_step_and_before_submit_refuses_an_edit(
    url: str, journal: Journal
) -> None:
    async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
        created = await http.post("/api/documents", json={"title": "Notes", "id": "notes"})
        assert created.status_code == 201
        client = WSClient(
            url,
            "notes",
            SyncClient("hooked"),
            name="Ann",
            connect_options={"additional_headers": AUTH},
        )
        async with client:
            await client.wait_synced()
            client.replace(0, 0, "hello ")
            await client.wait_synced()
            client.replace(6, 0, "forbidden")
            await eventually(lambda: ("refused", "word-refused") in journal.events)
            refusal = [e for e in client.errors if e.get("code") == "word-refused"]
            assert refusal and refusal[0]["message"] == "that word is not allowed here"
        text = (await http.get("/api/documents/notes/text")).json()
        assert text["text"] == "hello " and text["rev"] == 1

        renamed = await http.patch("/api/documents/notes", json={"title": "Renamed"})
        assert renamed.status_code == 200
        assert (await http.delete("/api/documents/notes")).status_code == 204

    await eventually(lambda: ("unload", "notes") in journal.events)
    assert journal.saw("created") == [("notes", "")]
    assert journal.saw("load") == ["notes"]
    assert journal.saw("commit") == [[1]]
    assert journal.saw("settled") == ["exact"]
    assert ("presence", ("join", "Ann")) in journal.events
    assert journal.saw("renamed") == ["Renamed"]
    assert journal.saw("deleted") == ["notes"]
    kinds = [name for name, _ in journal.events]
    assert kinds.index("created") < kinds.index("load") < kinds.index("commit")
    assert kinds.index("commit") < kinds.index("renamed") < kinds.index("deleted")


async def test_the_metrics_extension_counts_edits_and_refusals(
    url: str, guarded_app: FastAPI
) -> None:
    async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
        await http.post("/api/documents", json={"title": "M", "id": "m", "text": "abc"})
        restored = await http.post("/api/documents/m/restore", json={"rev": 0, "author": "x"})
        assert restored.status_code == 201
        metrics = (await http.get("/metrics")).text
    assert 'collab_edits_total{placement="exact"} 1.0' in metrics
