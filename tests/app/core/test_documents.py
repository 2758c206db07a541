"""The document service on the memory store: the same checks and reports on every path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.documents import DocumentService
from app.core.errors import BadRequest, DocumentNotFound, InvalidInput, PayloadTooLarge
from app.core.extensions import Extension, Extensions
from app.core.registry import RoomRegistry
from app.core.store import DocumentInfo
from app.main import create_app
from app.stores.memory import MemoryStore
from sync.errors import InvalidText

pytestmark = pytest.mark.anyio


class Heard(Extension):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def document_created(self, info: DocumentInfo, text: str) -> None:
        self.events.append(("created", info.id))

    async def document_renamed(self, info: DocumentInfo) -> None:
        self.events.append(("renamed", info.title))

    async def document_deleted(self, doc_id: str) -> None:
        self.events.append(("deleted", doc_id))


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
async def service(tmp_path: Path, heard: Heard) -> AsyncIterator[DocumentService]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, max_document_chars=10, max_title_chars=8
    )
    store = MemoryStore()
    extensions = Extensions([heard])
    rooms = RoomRegistry(store, settings, extensions)
    yield DocumentService(store, rooms, settings, extensions)
    await rooms.close()


async def test_create_checks_limits_before_storing_and_reports(
    service: DocumentService, heard: Heard
) -> None:
    with pytest.raises(PayloadTooLarge, match="the limit is 10"):
        await service.create("T", "x" * 11)
    with pytest.raises(InvalidInput, match="the limit is 8"):
        await service.create("a long title", "")
    with pytest.raises(InvalidText):
        await service.create("T", "bad \x00")
    assert (await service.store.list_documents())[1] == 0
    assert heard.events == []

    info = await service.create("T", "hello", "doc")
    assert info.id == "doc" and heard.events == [("created", "doc")]
    generated = await service.create("T", "")
    assert len(generated.id) == 36  # a UUID


async def test_import_decodes_utf8_drops_the_bom_and_names_it_after_the_file(
    service: DocumentService,
) -> None:
    info = await service.import_file("\ufeffhé".encode(), filename="C:\\notes\\a.txt", title=None)
    assert info.title == "a.txt"
    assert (await service.text(info.id)).text == "hé"
    with pytest.raises(BadRequest, match="not UTF-8"):
        await service.import_file(b"\xff\xfe", filename="x", title=None)
    with pytest.raises(PayloadTooLarge):
        await service.import_file(b"x" * 41, filename="x", title=None)


async def test_rename_restore_and_delete_reach_open_rooms_and_extensions(
    service: DocumentService, heard: Heard
) -> None:
    await service.create("T", "one", "doc")
    async with service.rooms.holding("doc") as room:
        await room.submit_text("two", "ann")
        renamed = await service.rename("doc", "New")
        assert renamed.title == "New" and room.title == "New"
        restored = await service.restore("doc", 0, "bob")
        assert restored.revision.rev == 2 and restored.revision.author == "bob"
        assert room.sequencer.text == "one"
        assert (await service.text("doc")).text == "one"
        assert (await service.text("doc", 1)).text == "two"
    await service.delete("doc")
    with pytest.raises(DocumentNotFound):
        await service.store.get("doc")
    assert "doc" not in service.rooms.rooms
    assert heard.events == [("created", "doc"), ("renamed", "New"), ("deleted", "doc")]


async def test_the_app_runs_on_the_memory_store(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, database_url="memory://", auth="off", allowed_hosts="t"
    )  # type: ignore[call-arg]
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        created = await http.post("/api/documents", json={"title": "M", "text": "kept"})
        assert created.status_code == 201
        doc_id = created.json()["id"]
        assert (await http.get(f"/api/documents/{doc_id}/text")).json()["text"] == "kept"
        assert isinstance(app.state.store, MemoryStore)
    assert not (tmp_path / "collab.sqlite3").exists()
