"""The web page's HTTP side: pages and assets served with a fresh style nonce and strict
security headers, a clear answer when the page is not built, and ids checked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.http.pages import NONCE_PLACEHOLDER
from app.main import create_app

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html><meta name="csp-nonce" content="{nonce}"><title>{name}</title>"""


def built_frontend(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    for name in ("documents", "editor", "history"):
        (dist / f"{name}.html").write_text(PAGE.format(nonce=NONCE_PLACEHOLDER, name=name))
    (dist / "assets" / "editor.js").write_text("export {};\n")
    return dist


async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c,
    ):
        yield c


@pytest.fixture
async def web(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings.frontend_dir = built_frontend(tmp_path / "frontend")
    async for client in serve(settings):
        yield client


def csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.mark.parametrize(
    ("path", "page"),
    [("/", "documents"), ("/d/notes-1", "editor"), ("/d/notes-1/history", "history")],
)
async def test_pages_are_served_with_a_fresh_style_nonce(
    web: httpx.AsyncClient, path: str, page: str
) -> None:
    first, second = await web.get(path), await web.get(path)
    assert first.status_code == 200
    assert f"<title>{page}</title>" in first.text
    nonces = []
    for response in (first, second):
        (nonce,) = re.findall(r'name="csp-nonce" content="([^"]+)"', response.text)
        assert NONCE_PLACEHOLDER not in response.text
        assert csp(response)["style-src"] == f"'self' 'nonce-{nonce}'"
        assert response.headers["cache-control"] == "no-store"
        nonces.append(nonce)
    assert nonces[0] != nonces[1], "every page load gets its own nonce"


async def test_the_policy_allows_only_our_own_scripts_and_no_framing(
    web: httpx.AsyncClient,
) -> None:
    response = await web.get("/d/notes-1")
    policy = csp(response)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'", "no inline scripts, no eval"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


async def test_assets_carry_the_same_headers(web: httpx.AsyncClient) -> None:
    response = await web.get("/assets/editor.js")
    assert response.status_code == 200
    assert response.text == "export {};\n"
    assert "javascript" in response.headers["content-type"]
    assert csp(response)["script-src"] == "'self'"
    assert response.headers["cache-control"] == "no-cache"
    assert (await web.get("/assets/missing.js")).status_code == 404
    assert (await web.get("/assets/../editor.html")).status_code == 404


@pytest.mark.parametrize("path", ["/d/has%20space", "/d/-leading-dash", "/d/" + "x" * 65])
async def test_a_path_that_cannot_name_a_document_is_not_found(
    web: httpx.AsyncClient, path: str
) -> None:
    response = await web.get(path)
    assert response.status_code == 404
    assert "content-security-policy" in response.headers


async def test_a_trailing_slash_redirects_to_the_document(web: httpx.AsyncClient) -> None:
    response = await web.get("/d/notes-1/")
    assert response.status_code == 308
    assert response.headers["location"] == "/d/notes-1"


async def test_the_api_keeps_working_beside_the_pages(web: httpx.AsyncClient) -> None:
    created = await web.post("/api/documents", json={"id": "notes-1", "title": "<b>x</b>"})
    assert created.status_code == 201
    assert (await web.get("/api/documents/notes-1")).json()["title"] == "<b>x</b>"
    # The interactive API docs load their own scripts: the pages' policy is not put on them.
    assert "content-security-policy" not in (await web.get("/docs")).headers


async def test_an_unbuilt_page_says_how_to_build_it(settings: Settings, tmp_path: Path) -> None:
    settings.frontend_dir = tmp_path / "nowhere"
    async for web in serve(settings):
        for path in ("/", "/d/notes-1", "/assets/editor.js"):
            response = await web.get(path)
            assert response.status_code == 503
            assert "make frontend" in response.text
        assert (await web.get("/health")).status_code == 200
