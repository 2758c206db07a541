"""REST API: documents (create, list, read, rename, delete, text, import, export)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from tests.app.conftest import set_text

pytestmark = pytest.mark.anyio


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error with the common shape; returns its ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/documents", json=body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


# -- create ---------------------------------------------------------------------------------


async def test_create_with_id_and_text(client: httpx.AsyncClient) -> None:
    doc = await create(client, id="q3-plan", title="Q3 plan", text="héllo 👋")
    assert doc["id"] == "q3-plan"
    assert doc["title"] == "Q3 plan"
    assert doc["rev"] == 0
    assert doc["length"] == 7  # code points, not UTF-16 units or bytes
    assert doc["editors"] == 0
    assert doc["people"] == []
    assert doc["created_at"] == doc["updated_at"]
    text = (await client.get("/api/documents/q3-plan/text")).json()
    assert text == {"id": "q3-plan", "rev": 0, "text": "héllo 👋", "checksum": doc["checksum"]}


async def test_create_defaults_make_a_uuid_and_empty_text(client: httpx.AsyncClient) -> None:
    doc = await create(client)
    assert len(doc["id"]) == 36
    assert doc["title"] == "Untitled"
    assert doc["length"] == 0
    assert (await client.get(f"/api/documents/{doc['id']}")).status_code == 200


async def test_create_taken_id_is_409(client: httpx.AsyncClient) -> None:
    await create(client, id="taken", text="first")
    error = assert_error(
        await client.post("/api/documents", json={"id": "taken", "text": "second"}),
        409,
        "document-exists",
    )
    assert "taken" in error["message"]
    assert (await client.get("/api/documents/taken/text")).json()["text"] == "first"


async def test_create_too_long_is_413(client: httpx.AsyncClient, settings: Any) -> None:
    settings.max_document_chars = 10
    assert_error(
        await client.post("/api/documents", json={"text": "x" * 11}), 413, "payload-too-large"
    )
    await create(client, text="x" * 10)


@pytest.mark.parametrize(
    ("field", "value", "codepoint"),
    [
        ("text", "a\u0000b", 0),
        ("text", "a\x0bb", 0x0B),
        ("text", "a\ufffeb", 0xFFFE),
        ("title", "bad\u0000title", 0),
        ("title", "\x1b[31mred", 0x1B),
    ],
)
async def test_create_forbidden_characters_are_422(
    client: httpx.AsyncClient, field: str, value: str, codepoint: int
) -> None:
    error = assert_error(
        await client.post("/api/documents", json={field: value}), 422, "invalid-text"
    )
    assert error["codepoint"] == codepoint
    assert field in error["message"]
    assert (await client.get("/api/documents")).json()["total"] == 0


@pytest.mark.parametrize("field", ["text", "title"])
async def test_create_lone_surrogate_is_422(client: httpx.AsyncClient, field: str) -> None:
    # UTF-8 cannot carry a lone surrogate, but JSON's \u escape can.
    raw = f'{{"{field}": "ok \\ud83d then"}}'
    response = await client.post(
        "/api/documents", content=raw, headers={"content-type": "application/json"}
    )
    error = assert_error(response, 422)
    if error["code"] == "invalid-text":
        assert error["codepoint"] == 0xD83D
        assert error["position"] == 3
        assert "surrogate" in error["message"]
    else:  # pydantic refuses it first where the field has length constraints
        assert error["code"] == "validation-error"
        assert error["details"][0]["loc"] == ["body", field]


async def test_create_paired_surrogates_are_fine(client: httpx.AsyncClient) -> None:
    raw = '{"id": "emoji", "text": "\\ud83d\\udc4b"}'
    response = await client.post(
        "/api/documents", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201
    assert (await client.get("/api/documents/emoji/text")).json()["text"] == "👋"


@pytest.mark.parametrize(
    "body",
    [
        {"id": "has space"},
        {"id": "-leading-dash"},
        {"id": "x" * 65},
        {"id": "a/b"},
        {"id": "ünïcode"},
        {"title": ""},
        {"title": "t" * 201},
        {"text": 5},
        {"title": None},
    ],
)
async def test_create_invalid_fields_are_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    error = assert_error(await client.post("/api/documents", json=body), 422, "validation-error")
    assert error["details"][0]["loc"][0] == "body"


async def test_create_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/documents", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in assert_error(response, 400, "invalid-json")["message"]


async def test_create_body_not_an_object_is_422(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/api/documents", json=["a"]), 422, "validation-error")


async def test_configured_title_limit(client: httpx.AsyncClient, settings: Any) -> None:
    settings.max_title_chars = 5
    assert_error(
        await client.post("/api/documents", json={"title": "too long"}), 422, "invalid-input"
    )
    doc = await create(client, title="short")
    assert_error(
        await client.patch(f"/api/documents/{doc['id']}", json={"title": "too long"}),
        422,
        "invalid-input",
    )


async def test_script_titles_are_stored_and_returned_verbatim(client: httpx.AsyncClient) -> None:
    title = "<script>alert('x')</script> & \"quotes\""
    doc = await create(client, id="xss", title=title)
    assert doc["title"] == title
    response = await client.get("/api/documents/xss")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["title"] == title
    listed = (await client.get("/api/documents")).json()["items"]
    assert listed[0]["title"] == title


# -- list -----------------------------------------------------------------------------------


async def test_list_paginates(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await create(client, id=f"doc-{i}", title=f"Doc {i}")
    page = (await client.get("/api/documents", params={"limit": 3, "sort": "title"})).json()
    assert page["total"] == 7
    assert (page["offset"], page["limit"]) == (0, 3)
    assert [d["id"] for d in page["items"]] == ["doc-0", "doc-1", "doc-2"]
    seen = []
    for offset in range(0, 9, 3):
        response = await client.get(
            "/api/documents", params={"limit": 3, "offset": offset, "sort": "title"}
        )
        seen += [d["id"] for d in response.json()["items"]]
    assert seen == [f"doc-{i}" for i in range(7)]
    beyond = (await client.get("/api/documents", params={"offset": 100})).json()
    assert beyond == {"items": [], "total": 7, "offset": 100, "limit": 50}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"offset": 2**31},
        {"offset": "x"},
        {"sort": "bogus"},
        {"q": "q" * 201},
    ],
)
async def test_list_bad_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    assert_error(await client.get("/api/documents", params=params), 422, "validation-error")


async def test_list_searches_titles_and_ids(client: httpx.AsyncClient) -> None:
    await create(client, id="budget", title="Budget 2026")
    await create(client, id="plan", title="Quarterly PLAN")
    await create(client, id="notes", title="100% done")
    await create(client, id="snake", title="snake_case")
    await create(client, id="other", title="100 percent, snakeXcase")

    async def ids(q: str) -> list[str]:
        response = await client.get("/api/documents", params={"q": q, "sort": "title"})
        body = response.json()
        assert body["total"] == len(body["items"])
        return sorted(d["id"] for d in body["items"])

    assert await ids("plan") == ["plan"]  # case-insensitive
    assert await ids("BUDG") == ["budget"]
    assert await ids("note") == ["notes"]  # ids match too
    assert await ids("%") == ["notes"]  # a literal percent, not a wildcard
    assert await ids("0%") == ["notes"]
    assert await ids("_") == ["snake"]  # a literal underscore, not "any character"
    assert await ids("e_c") == ["snake"]
    assert await ids("\\") == []
    assert await ids("nothing like it") == []
    assert len(await ids("")) == 5


async def test_list_sort_orders(client: httpx.AsyncClient) -> None:
    await create(client, id="b", title="Bravo")
    await create(client, id="a", title="Alpha")
    await create(client, id="c", title="Charlie")
    # Renaming "b" makes it the most recently updated; restoring "a" makes it the last edit.
    assert (await client.patch("/api/documents/b", json={"title": "Bravo!"})).status_code == 200
    assert (await client.post("/api/documents/a/restore", json={"rev": 0})).status_code == 201

    async def order(sort: str | None) -> list[str]:
        params = {"sort": sort} if sort else {}
        return [
            d["id"] for d in (await client.get("/api/documents", params=params)).json()["items"]
        ]

    assert await order(None) == ["a", "b", "c"]  # newest edit first
    assert await order("-updated") == ["a", "b", "c"]
    assert await order("updated") == ["c", "b", "a"]
    assert await order("title") == ["a", "b", "c"]
    assert await order("-title") == ["c", "b", "a"]
    assert await order("created") == ["b", "a", "c"]
    assert await order("-created") == ["c", "a", "b"]


# -- read, rename, delete -------------------------------------------------------------------


async def test_get_metadata(client: httpx.AsyncClient) -> None:
    made = await create(client, id="meta", title="Meta", text="abc")
    got = (await client.get("/api/documents/meta")).json()
    assert got == made


async def test_get_missing_is_404(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/api/documents/nope"), 404, "document-not-found")
    assert error["message"] == "document 'nope' not found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/documents/has%20space",
        "/api/documents/-dash",
        "/api/documents/" + "x" * 65,
        "/api/documents/%C3%A9",
        "/api/documents/a.b/text",
        "/api/documents/%00/revisions",
        "/api/documents/a%2Fb",
    ],
)
async def test_bad_ids_in_paths_are_422_or_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code in (404, 422)
    assert_error(response, response.status_code)


async def test_rename(client: httpx.AsyncClient) -> None:
    made = await create(client, id="r", title="Old", text="text")
    response = await client.patch("/api/documents/r", json={"title": "New <b>name</b>"})
    assert response.status_code == 200
    renamed = response.json()
    assert renamed["title"] == "New <b>name</b>"
    assert renamed["rev"] == made["rev"]
    assert renamed["updated_at"] >= made["updated_at"]
    assert (await client.get("/api/documents/r")).json()["title"] == "New <b>name</b>"


async def test_rename_errors(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.patch("/api/documents/nope", json={"title": "x"}), 404, "document-not-found"
    )
    await create(client, id="r")
    assert_error(await client.patch("/api/documents/r", json={}), 422, "validation-error")
    assert_error(await client.patch("/api/documents/r", json={"title": ""}), 422)
    assert_error(
        await client.patch("/api/documents/r", json={"title": "a\u0007"}), 422, "invalid-text"
    )


async def test_delete_removes_document_and_history(client: httpx.AsyncClient) -> None:
    await create(client, id="gone", text="v0")
    await client.post("/api/documents/gone/restore", json={"rev": 0})
    response = await client.delete("/api/documents/gone")
    assert response.status_code == 204
    assert response.content == b""
    for path in (
        "/api/documents/gone",
        "/api/documents/gone/text",
        "/api/documents/gone/text?rev=0",
        "/api/documents/gone/revisions",
        "/api/documents/gone/revisions/1",
        "/api/documents/gone/export",
        "/api/documents/gone/diff?from=0&to=1",
    ):
        assert_error(await client.get(path), 404, "document-not-found")
    assert_error(await client.delete("/api/documents/gone"), 404, "document-not-found")
    # The id is free again, with a history of its own.
    doc = await create(client, id="gone", text="new")
    assert doc["rev"] == 0
    assert (await client.get("/api/documents/gone/revisions")).json()["total"] == 0


# -- who is editing -------------------------------------------------------------------------


async def joined(ws: ClientConnection, client: str, **fields: Any) -> None:
    await ws.send(json.dumps({"type": "join", "client": client, **fields}))
    while json.loads(await ws.recv())["type"] != "snapshot":
        pass


async def people(http: httpx.AsyncClient, doc_id: str) -> list[dict[str, Any]]:
    doc = (await http.get(f"/api/documents/{doc_id}")).json()
    assert doc["editors"] == len(doc["people"])
    result: list[dict[str, Any]] = doc["people"]
    return result


async def test_people_editing_are_named_in_join_order(live_server: str) -> None:
    ws_url = live_server.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=live_server) as http:
        await create(http, id="busy", title="Busy")
        await create(http, id="quiet", title="Quiet")
        async with connect(f"{ws_url}/ws/busy", proxy=None) as ann:
            await joined(ann, "c-ann", name="Ann <b>", color="#e6194b")
            async with connect(f"{ws_url}/ws/busy", proxy=None) as bob:
                await joined(bob, "c-bob", name="Bob", color="#3cb44b")
                expected = [
                    {"name": "Ann <b>", "color": "#e6194b", "author": "Ann <b>"},
                    {"name": "Bob", "color": "#3cb44b", "author": "Bob"},
                ]
                assert await people(http, "busy") == expected
                listed = {d["id"]: d for d in (await http.get("/api/documents")).json()["items"]}
                assert listed["busy"]["people"] == expected
                assert listed["busy"]["editors"] == 2
                assert (listed["quiet"]["people"], listed["quiet"]["editors"]) == ([], 0)
                renamed = await http.patch("/api/documents/busy", json={"title": "Busier"})
                assert renamed.json()["people"] == expected
            # Bob left; Ann stays, under the name she changes to.
            await ann.send(json.dumps({"type": "presence", "name": "Annie"}))
            for _ in range(200):
                if await people(http, "busy") == [
                    {"name": "Annie", "color": "#e6194b", "author": "Annie"}
                ]:
                    break
                await anyio.sleep(0.01)
            assert await people(http, "busy") == [
                {"name": "Annie", "color": "#e6194b", "author": "Annie"}
            ]


# -- text -----------------------------------------------------------------------------------


async def test_text_current_and_at_revision(client: httpx.AsyncClient, app: FastAPI) -> None:
    await create(client, id="t", text="one")
    assert await set_text(app, "t", "one two") == 1
    assert await set_text(app, "t", "two") == 2
    current = (await client.get("/api/documents/t/text")).json()
    assert (current["rev"], current["text"]) == (2, "two")
    for rev, text in [(0, "one"), (1, "one two"), (2, "two")]:
        response = await client.get("/api/documents/t/text", params={"rev": rev})
        assert response.json()["text"] == text
        assert response.json()["rev"] == rev
    # Unloaded from memory (idle_unload_seconds=0), the store answers the same.
    assert "t" not in app.state.rooms.rooms
    assert (await client.get("/api/documents/t/text")).json() == current


async def test_text_while_loaded_comes_from_the_room(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await create(client, id="t", text="a")
    async with app.state.rooms.holding("t") as room:
        await room.submit_text("b", "tester")
        body = (await client.get("/api/documents/t/text")).json()
        assert (body["rev"], body["text"], body["checksum"]) == (1, "b", room.sequencer.checksum)


async def test_text_errors(client: httpx.AsyncClient) -> None:
    await create(client, id="t", text="x")
    error = assert_error(
        await client.get("/api/documents/t/text", params={"rev": 1}), 404, "revision-not-found"
    )
    assert "0 to 0" in error["message"]
    assert_error(await client.get("/api/documents/t/text", params={"rev": -1}), 422)
    assert_error(await client.get("/api/documents/t/text", params={"rev": 2**40}), 422)
    assert_error(await client.get("/api/documents/nope/text"), 404, "document-not-found")


# -- import ---------------------------------------------------------------------------------


async def test_import_utf8_file(client: httpx.AsyncClient) -> None:
    content = "Grüße\nline two 👋\n".encode()
    response = await client.post(
        "/api/imports", files={"file": ("notes.md", content, "text/markdown")}
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["title"] == "notes.md"
    assert doc["length"] == 17
    text = (await client.get(f"/api/documents/{doc['id']}/text")).json()["text"]
    assert text == "Grüße\nline two 👋\n"


async def test_import_drops_a_bom_and_takes_a_title(client: httpx.AsyncClient) -> None:
    content = b"\xef\xbb\xbfwith BOM"
    response = await client.post(
        "/api/imports",
        files={"file": ("ignored.txt", content, "text/plain")},
        data={"title": "Chosen title"},
    )
    assert response.status_code == 201
    doc = response.json()
    assert doc["title"] == "Chosen title"
    text = (await client.get(f"/api/documents/{doc['id']}/text")).json()["text"]
    assert text == "with BOM"


async def test_import_uses_the_base_name_of_a_path(client: httpx.AsyncClient) -> None:
    for name in ("dir/sub/a.txt", "C:\\Users\\me\\a.txt"):
        response = await client.post("/api/imports", files={"file": (name, b"x")})
        assert response.json()["title"] == "a.txt"


async def test_import_not_utf8_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/imports", files={"file": ("latin1.txt", "café".encode("latin-1"))}
    )
    assert "not UTF-8" in assert_error(response, 400, "bad-request")["message"]
    utf16 = "hello".encode("utf-16")
    response = await client.post("/api/imports", files={"file": ("u16.txt", utf16)})
    assert_error(response, 400)


async def test_import_oversize_is_413(client: httpx.AsyncClient, settings: Any) -> None:
    settings.max_document_chars = 8
    # Over the character limit, and over the byte limit (four bytes a character) alike.
    for content in (b"x" * 9, b"x" * 100):
        response = await client.post("/api/imports", files={"file": ("a.txt", content)})
        assert_error(response, 413, "payload-too-large")
    ok = await client.post("/api/imports", files={"file": ("a.txt", "é" * 8)})
    assert ok.status_code == 201


async def test_import_forbidden_characters_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/imports", files={"file": ("a.txt", b"a\x00b")})
    assert_error(response, 422, "invalid-text")
    response = await client.post(
        "/api/imports", files={"file": ("a.txt", b"ok")}, data={"title": "t\x01"}
    )
    assert_error(response, 422, "invalid-text")


async def test_import_without_a_file_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/imports", data={"title": "no file"})
    assert_error(response, 422, "validation-error")


async def test_import_malformed_multipart_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/imports",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nunterminated',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)


# -- export ---------------------------------------------------------------------------------


async def test_export_txt(client: httpx.AsyncClient) -> None:
    await create(client, id="e", title="Plain notes", text="line 1\nline 2 ✓\n")
    response = await client.get("/api/documents/e/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == "line 1\nline 2 ✓\n".encode()
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Plain notes.txt\"; filename*=UTF-8''Plain%20notes.txt"
    )


async def test_export_markdown_when_the_title_says_so(client: httpx.AsyncClient) -> None:
    await create(client, id="m", title="README.MD", text="# Title\n")
    response = await client.get("/api/documents/m/export")
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert 'filename="README.md"' in disposition
    assert "filename*=UTF-8''README.md" in disposition


async def test_export_non_ascii_title(client: httpx.AsyncClient) -> None:
    await create(client, id="u", title="Crème brûlée – 日本語", text="x")
    disposition = (await client.get("/api/documents/u/export")).headers["content-disposition"]
    # The header itself is ASCII: latin-1 decoding by httpx would show anything else.
    assert disposition.isascii()
    assert 'filename="Creme brulee.txt"' in disposition  # accents decomposed, the rest dropped
    exact = "Crème brûlée – 日本語.txt"
    assert f"filename*=UTF-8''{quote(exact, safe='')}" in disposition


async def test_export_only_non_ascii_title_falls_back(client: httpx.AsyncClient) -> None:
    await create(client, id="j", title="日本語.md", text="x")
    disposition = (await client.get("/api/documents/j/export")).headers["content-disposition"]
    assert 'filename="document.md"' in disposition
    assert "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.md" in disposition


@pytest.mark.parametrize(
    "title",
    [
        '<script>alert("x")</script>',
        'a"; filename="evil.exe',
        "../../etc/passwd",
        "back\\slash",
        "semi;colon\r\nX-Injected: yes",
        "...",
    ],
)
async def test_export_hostile_titles_are_harmless(client: httpx.AsyncClient, title: str) -> None:
    response = await client.post("/api/documents", json={"title": title, "text": "t"})
    if response.status_code == 422:  # CR/LF are fine in titles; other controls are not
        pytest.fail(response.text)
    doc_id = response.json()["id"]
    response = await client.get(f"/api/documents/{doc_id}/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "x-injected" not in response.headers
    disposition = response.headers["content-disposition"]
    assert disposition.isascii()
    assert disposition.startswith('attachment; filename="')
    ascii_part = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert "/" not in ascii_part and "\\" not in ascii_part and "<" not in ascii_part
    assert ascii_part.endswith(".txt")
    assert not ascii_part.startswith(".")
    exact = disposition.split("filename*=UTF-8''", 1)[1]
    assert all(c.isalnum() or c in "%-._~" for c in exact)


async def test_export_a_past_revision(client: httpx.AsyncClient) -> None:
    await create(client, id="p", text="old")
    response = await client.get("/api/documents/p/export", params={"rev": 0})
    assert response.content == b"old"
    assert_error(
        await client.get("/api/documents/p/export", params={"rev": 5}), 404, "revision-not-found"
    )
    assert_error(await client.get("/api/documents/nope/export"), 404, "document-not-found")
