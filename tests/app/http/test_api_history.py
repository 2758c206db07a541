"""REST API: revisions, one revision's patch, diffs and restore."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from sync import patches
from tests.app.conftest import set_text
from tests.app.http.test_api_documents import assert_error, create

pytestmark = pytest.mark.anyio

TEXTS = ["The quick fox", "The quick brown fox", "The brown fox jumps", "A brown fox jumps!"]


@pytest.fixture
async def doc(client: httpx.AsyncClient, app: FastAPI) -> str:
    """Document 'h' with revisions 0..3 holding TEXTS."""
    await create(client, id="h", title="History", text=TEXTS[0])
    for text in TEXTS[1:]:
        await set_text(app, "h", text, author="alice")
    return "h"


async def test_list_revisions_newest_first(client: httpx.AsyncClient, doc: str) -> None:
    body = (await client.get(f"/api/documents/{doc}/revisions")).json()
    assert body["total"] == 3
    assert (body["offset"], body["limit"]) == (0, 50)
    assert [r["rev"] for r in body["items"]] == [3, 2, 1]
    first = body["items"][-1]
    assert first["author"] == "alice"
    assert first["base"] == 0
    assert first["client"].startswith("srv-")
    assert first["seq"] == 1
    assert (first["inserted"], first["deleted"]) == (6, 0)  # "brown "
    assert "patch" not in first


async def test_list_revisions_oldest_first_and_paginated(
    client: httpx.AsyncClient, doc: str
) -> None:
    url = f"/api/documents/{doc}/revisions"
    page = (await client.get(url, params={"order": "oldest", "limit": 2})).json()
    assert [r["rev"] for r in page["items"]] == [1, 2]
    assert page["total"] == 3
    page = (await client.get(url, params={"order": "oldest", "limit": 2, "offset": 2})).json()
    assert [r["rev"] for r in page["items"]] == [3]
    page = (await client.get(url, params={"limit": 2, "offset": 1})).json()
    assert [r["rev"] for r in page["items"]] == [2, 1]
    page = (await client.get(url, params={"offset": 10})).json()
    assert page["items"] == []
    assert page["total"] == 3


@pytest.mark.parametrize(
    "params", [{"order": "random"}, {"limit": 0}, {"limit": 501}, {"offset": -1}]
)
async def test_list_revisions_bad_parameters(
    client: httpx.AsyncClient, doc: str, params: dict[str, object]
) -> None:
    response = await client.get(f"/api/documents/{doc}/revisions", params=params)
    assert_error(response, 422, "validation-error")


async def test_list_revisions_of_a_missing_document(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/documents/nope/revisions"), 404, "document-not-found")


async def test_one_revision_has_its_exact_patch(client: httpx.AsyncClient, doc: str) -> None:
    for rev in (1, 2, 3):
        body = (await client.get(f"/api/documents/{doc}/revisions/{rev}")).json()
        assert body["rev"] == rev
        new_text, _ = patches.apply_patch(TEXTS[rev - 1], patches.parse_patch(body["patch"]))
        assert new_text == TEXTS[rev]
        text = (await client.get(f"/api/documents/{doc}/text", params={"rev": rev})).json()
        assert body["checksum"] == text["checksum"]


async def test_one_revision_errors(client: httpx.AsyncClient, doc: str) -> None:
    assert_error(await client.get(f"/api/documents/{doc}/revisions/4"), 404, "revision-not-found")
    assert_error(await client.get("/api/documents/nope/revisions/1"), 404, "document-not-found")
    for bad in ("0", "-1", "x", str(2**31), "99999999999999999999999"):
        assert_error(await client.get(f"/api/documents/{doc}/revisions/{bad}"), 422)


async def test_diff_between_revisions(client: httpx.AsyncClient, doc: str) -> None:
    body = (await client.get(f"/api/documents/{doc}/diff", params={"from": 0, "to": 3})).json()
    assert (body["from_rev"], body["to_rev"]) == (0, 3)
    chunks = body["diffs"]
    assert {c["op"] for c in chunks} <= {"equal", "insert", "delete"}
    assert "".join(c["text"] for c in chunks if c["op"] != "insert") == TEXTS[0]
    assert "".join(c["text"] for c in chunks if c["op"] != "delete") == TEXTS[3]
    assert patches.apply_patch(TEXTS[0], patches.parse_patch(body["patch"]))[0] == TEXTS[3]
    # Backwards works too, and a revision against itself is no change at all.
    back = (await client.get(f"/api/documents/{doc}/diff", params={"from": 3, "to": 1})).json()
    assert patches.apply_patch(TEXTS[3], patches.parse_patch(back["patch"]))[0] == TEXTS[1]
    same = (await client.get(f"/api/documents/{doc}/diff", params={"from": 2, "to": 2})).json()
    assert same["patch"] == ""
    assert same["diffs"] == [{"op": "equal", "text": TEXTS[2]}]


async def test_diff_errors(client: httpx.AsyncClient, doc: str) -> None:
    url = f"/api/documents/{doc}/diff"
    assert_error(await client.get(url, params={"from": 0, "to": 4}), 404, "revision-not-found")
    assert_error(await client.get(url, params={"from": 9, "to": 0}), 404, "revision-not-found")
    assert_error(await client.get(url, params={"from": 0}), 422, "validation-error")
    assert_error(await client.get(url, params={"from": -1, "to": 1}), 422, "validation-error")
    response = await client.get("/api/documents/nope/diff", params={"from": 0, "to": 0})
    assert_error(response, 404, "document-not-found")


async def test_restore_makes_a_new_revision(client: httpx.AsyncClient, doc: str) -> None:
    response = await client.post(f"/api/documents/{doc}/restore", json={"rev": 1, "author": "bob"})
    assert response.status_code == 201
    restored = response.json()
    assert restored["rev"] == 4
    assert restored["author"] == "bob"
    assert restored["base"] == 3
    current = (await client.get(f"/api/documents/{doc}/text")).json()
    assert (current["rev"], current["text"]) == (4, TEXTS[1])
    assert restored["checksum"] == current["checksum"]
    # History is not rewritten: every old revision is still there, unchanged.
    revisions = (await client.get(f"/api/documents/{doc}/revisions")).json()
    assert [r["rev"] for r in revisions["items"]] == [4, 3, 2, 1]
    for rev, text in enumerate(TEXTS):
        at = (await client.get(f"/api/documents/{doc}/text", params={"rev": rev})).json()
        assert at["text"] == text
    assert (await client.get(f"/api/documents/{doc}")).json()["rev"] == 4


async def test_restore_the_current_text_still_adds_a_revision(
    client: httpx.AsyncClient, doc: str
) -> None:
    response = await client.post(f"/api/documents/{doc}/restore", json={"rev": 3})
    assert response.status_code == 201
    body = response.json()
    assert (body["rev"], body["author"], body["patch"]) == (4, "restore", "")
    assert (body["inserted"], body["deleted"]) == (0, 0)


async def test_restore_errors(client: httpx.AsyncClient, doc: str) -> None:
    url = f"/api/documents/{doc}/restore"
    assert_error(await client.post(url, json={"rev": 4}), 404, "revision-not-found")
    for rev in (-1, 1.5, True, "1", None):
        assert_error(await client.post(url, json={"rev": rev}), 422, "validation-error")
    assert_error(await client.post(url, json={}), 422, "validation-error")
    assert_error(await client.post(url, json={"rev": 1, "author": ""}), 422)
    assert_error(await client.post(url, json={"rev": 1, "author": "a\x00"}), 422, "invalid-text")
    assert_error(
        await client.post(url, content=b"{", headers={"content-type": "application/json"}),
        400,
        "invalid-json",
    )
    response = await client.post("/api/documents/nope/restore", json={"rev": 0})
    assert_error(response, 404, "document-not-found")
    assert (await client.get(f"/api/documents/{doc}")).json()["rev"] == 3


async def test_restore_past_the_size_limit_is_413(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    await create(client, id="big", text="x" * 10)
    await set_text(app, "big", "x")
    settings.max_document_chars = 5  # lowered since: the old text no longer fits
    response = await client.post("/api/documents/big/restore", json={"rev": 0})
    assert_error(response, 413, "document-too-large")
