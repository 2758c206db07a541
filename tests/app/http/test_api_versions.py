"""REST API: named versions. A label on a revision is listed, moved, compared with another
through /diff, restored through /restore and removed; bad names, revisions past the head and
unknown labels get precise errors, and a deleted document's labels go with it. The SQLite
store here; PostgreSQL's in tests/app/stores/test_versions.py."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.core.versions import MAX_VERSIONS
from tests.app.conftest import set_text
from tests.app.http.test_api_documents import assert_error, create

pytestmark = pytest.mark.anyio


@pytest.fixture
async def doc(client: httpx.AsyncClient, app: FastAPI) -> str:
    await create(client, id="v", title="Versions", text="draft")
    await set_text(app, "v", "first draft", author="ann")  # rev 1
    await set_text(app, "v", "final text", author="bob")  # rev 2
    return "v"


async def test_name_list_move_compare_restore_and_remove(
    client: httpx.AsyncClient, doc: str
) -> None:
    base = f"/api/documents/{doc}/versions"
    made = await client.post(base, json={"name": "Sent to legal", "rev": 1})
    assert made.status_code == 201, made.text
    assert (made.json()["name"], made.json()["rev"]) == ("Sent to legal", 1)
    assert (await client.post(base, json={"name": "v1.0", "rev": 2})).status_code == 201
    listed = (await client.get(base)).json()["items"]
    assert [(v["name"], v["rev"]) for v in listed] == [("v1.0", 2), ("Sent to legal", 1)]

    # Comparing two versions is a diff between their revisions.
    diff = (await client.get(f"/api/documents/{doc}/diff", params={"from": 1, "to": 2})).json()
    assert diff["from_rev"] == 1 and diff["to_rev"] == 2

    # A label used again moves to the new revision.
    assert (await client.post(base, json={"name": "Sent to legal", "rev": 0})).status_code == 201
    listed = (await client.get(base)).json()["items"]
    assert [(v["name"], v["rev"]) for v in listed] == [("v1.0", 2), ("Sent to legal", 0)]

    restored = await client.post(f"/api/documents/{doc}/restore", json={"rev": 0})
    assert restored.status_code == 201
    assert (await client.get(f"/api/documents/{doc}/text")).json()["text"] == "draft"

    gone = await client.delete(f"{base}/Sent%20to%20legal")
    assert gone.status_code == 204
    assert [v["name"] for v in (await client.get(base)).json()["items"]] == ["v1.0"]
    assert_error(await client.delete(f"{base}/Sent%20to%20legal"), 404, "version-not-found")


async def test_bad_requests_get_precise_errors(client: httpx.AsyncClient, doc: str) -> None:
    base = f"/api/documents/{doc}/versions"
    assert_error(await client.post(base, json={"name": "x", "rev": 3}), 404, "revision-not-found")
    for name in ("", "a/b", "x" * 81, "tab\there"):
        assert_error(await client.post(base, json={"name": name, "rev": 1}), 422)
    assert_error(await client.post(base, json={"name": "ok", "rev": -1}), 422)
    assert_error(await client.get("/api/documents/missing/versions"), 404, "document-not-found")
    assert_error(
        await client.post("/api/documents/missing/versions", json={"name": "a", "rev": 0}),
        404,
        "document-not-found",
    )


async def test_the_number_of_labels_is_bounded(
    client: httpx.AsyncClient, app: FastAPI, doc: str
) -> None:
    versions = app.state.versions
    for number in range(MAX_VERSIONS):
        await versions.name(doc, f"n{number}", 1, "test")
    base = f"/api/documents/{doc}/versions"
    too_many = await client.post(base, json={"name": "one more", "rev": 1})
    assert_error(too_many, 422)
    assert "remove one first" in too_many.json()["error"]["message"]
    # Moving a label that exists is no new label.
    assert (await client.post(base, json={"name": "n0", "rev": 2})).status_code == 201


async def test_a_deleted_documents_labels_go_with_it(client: httpx.AsyncClient, doc: str) -> None:
    await client.post(f"/api/documents/{doc}/versions", json={"name": "keep", "rev": 1})
    assert (await client.delete(f"/api/documents/{doc}")).status_code == 204
    await create(client, id=doc, title="Again", text="")
    assert (await client.get(f"/api/documents/{doc}/versions")).json()["items"] == []
