"""REST API: blame (who wrote which part of the text) and export formats."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from app.http.api.routes import blame
from sync.authorship import Attribution
from tests.app.conftest import set_text
from tests.app.http.test_api_documents import assert_error, create

pytestmark = pytest.mark.anyio


@pytest.fixture
async def doc(client: httpx.AsyncClient, app: FastAPI) -> str:
    """'b': "hello" from before the log, then ann and bob write around it."""
    await create(client, id="b", title="Blame", text="hello")
    await set_text(app, "b", "hello world", author="ann")  # rev 1
    await set_text(app, "b", "Hello world!", author="bob")  # rev 2: "h"→"H", "!"
    await set_text(app, "b", "Hello, world!", author="ann")  # rev 3
    return "b"


async def test_blame_at_the_head(client: httpx.AsyncClient, doc: str) -> None:
    response = await client.get(f"/api/documents/{doc}/blame")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["rev"], body["length"]) == (doc, 3, 13)
    assert (body["start"], body["end"]) == (0, 13)
    # "H" bob's, "ello" from before the log, ", world" ann's (merged runs), "!" bob's.
    assert body["runs"] == [[0, 1, "bob"], [1, 4, None], [5, 7, "ann"], [12, 1, "bob"]]
    assert body["authors"] == ["bob", "ann"]


async def test_blame_of_a_range_and_of_a_past_revision(client: httpx.AsyncClient, doc: str) -> None:
    url = f"/api/documents/{doc}/blame"
    body = (await client.get(url, params={"start": 3, "end": 7})).json()
    assert body["runs"] == [[3, 2, None], [5, 2, "ann"]]
    assert (body["start"], body["end"]) == (3, 7)
    body = (await client.get(url, params={"rev": 1})).json()
    assert body["runs"] == [[0, 5, None], [5, 6, "ann"]]
    assert (body["rev"], body["length"]) == (1, 11)
    body = (await client.get(url, params={"rev": 0})).json()
    assert body["runs"] == [[0, 5, None]]
    assert body["authors"] == []
    body = (await client.get(url, params={"start": 50})).json()
    assert body["runs"] == []
    assert (body["start"], body["end"]) == (13, 13)


async def test_blame_errors(client: httpx.AsyncClient, doc: str) -> None:
    assert_error(
        await client.get(f"/api/documents/{doc}/blame", params={"rev": 4}),
        404,
        "revision-not-found",
    )
    assert_error(await client.get("/api/documents/nope/blame"), 404, "document-not-found")
    assert_error(await client.get(f"/api/documents/{doc}/blame", params={"start": -1}), 422)


async def test_blame_at_the_head_reads_only_what_is_new(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await create(client, id="long", title="Long", text="")
    text = ""
    for i in range(30):
        text += "ab"[i % 2]
        await set_text(app, "long", text, author=f"p{i % 3}")
    url = "/api/documents/long/blame"
    body = (await client.get(url)).json()
    assert [r[2] for r in body["runs"]] == [f"p{i % 3}" for i in range(30)]
    cache: blame.BlameCache = app.state.blame
    read = cache.revisions_read
    assert read == 30
    await set_text(app, "long", text + "!", author="zed")
    body = (await client.get(url)).json()
    assert body["runs"][-1] == [30, 1, "zed"]
    assert cache.revisions_read == read + 1  # one revision folded in, not the log replayed
    body = (await client.get(url, params={"rev": 10})).json()
    assert body["length"] == 10


async def test_blame_of_a_document_made_again_under_its_id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await create(client, id="again", title="Again", text="")
    await set_text(app, "again", "first", author="ann")
    assert (await client.get("/api/documents/again/blame")).json()["authors"] == ["ann"]
    assert (await client.delete("/api/documents/again")).status_code == 204
    await create(client, id="again", title="Again", text="")
    await set_text(app, "again", "second!", author="bob")
    body = (await client.get("/api/documents/again/blame")).json()
    assert body["runs"] == [[0, 7, "bob"]]


def test_checkpoints_stay_bounded() -> None:
    known = blame._Known(created_at=datetime.now(UTC))
    for rev in range(0, 100 * blame.FIRST_SPACING, blame.FIRST_SPACING):
        known.keep(rev, Attribution(rev))
    assert len(known.checkpoints) <= blame.MAX_CHECKPOINTS
    assert known.spacing > blame.FIRST_SPACING
    assert all(rev % known.spacing == 0 for rev in known.checkpoints)
    nearest = known.nearest(known.spacing * 3 + 5)
    assert nearest is not None and nearest[0] == known.spacing * 3


# -- export formats ---------------------------------------------------------------------------


async def test_export_as_each_format(client: httpx.AsyncClient) -> None:
    await create(client, id="x", title="Notes.md", text="# Hi <b>&\n")
    url = "/api/documents/x/export"
    response = await client.get(url, params={"format": "txt"})
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert 'filename="Notes.txt"' in response.headers["content-disposition"]
    assert response.text == "# Hi <b>&\n"
    response = await client.get(url, params={"format": "md"})
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert 'filename="Notes.md"' in response.headers["content-disposition"]
    response = await client.get(url, params={"format": "html"})
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'filename="Notes.html"' in response.headers["content-disposition"]
    assert response.text.startswith("<!doctype html>")
    assert "<title>Notes.md</title>" in response.text
    assert "<pre># Hi &lt;b&gt;&amp;\n</pre>" in response.text
    assert_error(await client.get(url, params={"format": "pdf"}), 422)


async def test_export_html_escapes_a_hostile_title(client: httpx.AsyncClient) -> None:
    await create(client, id="h", title="</title><script>alert(1)</script>", text="x")
    response = await client.get("/api/documents/h/export", params={"format": "html"})
    assert "<script>" not in response.text
    assert "&lt;/title&gt;&lt;script&gt;" in response.text
