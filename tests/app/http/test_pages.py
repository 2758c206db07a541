"""The web page's HTTP side: pages and assets served with a fresh style nonce and strict
security headers, a clear answer when the page is not built, and ids checked."""

from __future__ import annotations

import gzip
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.http.docs import CDN
from app.http.pages import IMMUTABLE, NONCE_PLACEHOLDER
from app.main import create_app

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html><meta name="csp-nonce" content="{nonce}"><title>{name}</title>"""

# A bundle as the build names it (esbuild's "[name]-[hash]"), with its precompressed copies.
BUNDLE = "editor-5KX2Q7ZD.js"
BUNDLE_TEXT = "export const greeting = 'hello';\n" * 200
VENDOR = ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-favicon.png", "redoc.standalone.js")


def brotli(data: bytes, *, decompress: bool = False) -> bytes:
    """Node's zlib, as the build uses it (Python's standard library has no brotli)."""
    call = "brotliDecompressSync" if decompress else "brotliCompressSync"
    script = (
        f"process.stdout.write(require('node:zlib').{call}(require('node:fs').readFileSync(0)))"
    )
    return subprocess.run(
        ["node", "-e", script], input=data, capture_output=True, check=True, timeout=30
    ).stdout


def built_frontend(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    for name in ("documents", "editor", "history"):
        (dist / f"{name}.html").write_text(PAGE.format(nonce=NONCE_PLACEHOLDER, name=name))
    (dist / "assets" / "editor.js").write_text("export {};\n")
    bundle = dist / "assets" / BUNDLE
    bundle.write_text(BUNDLE_TEXT)
    bundle.with_name(BUNDLE + ".gz").write_bytes(gzip.compress(bundle.read_bytes()))
    bundle.with_name(BUNDLE + ".br").write_bytes(brotli(bundle.read_bytes()))
    (dist / "assets" / "vendor").mkdir()
    for name in VENDOR:
        (dist / "assets" / "vendor" / name).write_text(f"/* {name} */\n")
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


async def raw(web: httpx.AsyncClient, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, before httpx would decode a Content-Encoding."""
    async with web.stream("GET", path, headers=headers) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_a_hashed_asset_is_kept_for_a_year(web: httpx.AsyncClient) -> None:
    response = await web.get(f"/assets/{BUNDLE}", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert csp(response)["script-src"] == "'self'"
    again = await web.get(
        f"/assets/{BUNDLE}",
        headers={"accept-encoding": "identity", "if-none-match": response.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == IMMUTABLE


async def test_unhashed_and_missing_assets_are_revalidated(web: httpx.AsyncClient) -> None:
    for path in ("/assets/editor.js", "/assets/vendor/swagger-ui-bundle.js"):
        response = await web.get(path)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
    # A year of "not found" would outlive the deployment that brings the file.
    missing = await web.get("/assets/editor-ABCDEFGH.js")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("cache-control", "")


async def test_gzip_is_sent_from_the_precompressed_copy(
    web: httpx.AsyncClient, settings: Settings
) -> None:
    assert settings.frontend_dir is not None
    response, body = await raw(web, f"/assets/{BUNDLE}", **{"accept-encoding": "gzip, deflate"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "javascript" in response.headers["content-type"]
    assert "accept-encoding" in response.headers["vary"].lower()
    assert response.headers["cache-control"] == IMMUTABLE
    assert body == (settings.frontend_dir / "assets" / f"{BUNDLE}.gz").read_bytes()
    assert gzip.decompress(body).decode() == BUNDLE_TEXT
    assert int(response.headers["content-length"]) == len(body) < len(BUNDLE_TEXT)


async def test_brotli_is_preferred_when_accepted(web: httpx.AsyncClient) -> None:
    response, body = await raw(web, f"/assets/{BUNDLE}", **{"accept-encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "br"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert brotli(body, decompress=True).decode() == BUNDLE_TEXT
    # Each copy has its own validator: a gzip ETag must never revalidate the brotli bytes.
    gzipped, _ = await raw(web, f"/assets/{BUNDLE}", **{"accept-encoding": "gzip"})
    assert gzipped.headers["etag"] != response.headers["etag"]
    again, _ = await raw(
        web,
        f"/assets/{BUNDLE}",
        **{"accept-encoding": "br", "if-none-match": response.headers["etag"]},
    )
    assert again.status_code == 304


@pytest.mark.parametrize("accept", ["identity", "br;q=0, gzip;q=0", ""])
async def test_without_an_accepted_encoding_the_file_goes_as_it_is(
    web: httpx.AsyncClient, accept: str
) -> None:
    response, body = await raw(web, f"/assets/{BUNDLE}", **{"accept-encoding": accept})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert body.decode() == BUNDLE_TEXT
    assert "accept-encoding" in response.headers["vary"].lower()


async def test_a_refused_encoding_is_not_sent(web: httpx.AsyncClient) -> None:
    response, body = await raw(web, f"/assets/{BUNDLE}", **{"accept-encoding": "br;q=0, gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).decode() == BUNDLE_TEXT


async def test_large_api_answers_are_gzipped_and_small_ones_are_not(
    web: httpx.AsyncClient,
) -> None:
    response, body = await raw(web, "/openapi.json", **{"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert gzip.decompress(body).startswith(b'{"openapi":')
    small, _ = await raw(web, "/health", **{"accept-encoding": "gzip"})
    assert small.status_code == 200
    assert "content-encoding" not in small.headers


@pytest.mark.parametrize(
    ("path", "files"),
    [
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-favicon.png")),
        ("/redoc", ("redoc.standalone.js", "swagger-ui-favicon.png")),
    ],
)
async def test_the_api_docs_load_their_scripts_from_here(
    web: httpx.AsyncClient, path: str, files: tuple[str, ...]
) -> None:
    page = await web.get(path)
    assert page.status_code == 200
    assert "openapi.json" in page.text
    assert "https://" not in page.text, "nothing from a CDN or Google Fonts: /docs works offline"
    loaded = set(re.findall(r"""['"](/assets/vendor/[^'"]+)['"]""", page.text))
    assert loaded == {f"/assets/vendor/{name}" for name in files}
    for url in loaded:
        asset = await web.get(url)
        assert asset.status_code == 200
        assert asset.text == f"/* {url.rsplit('/', 1)[1]} */\n"


async def test_unbuilt_api_docs_fall_back_to_the_cdn(settings: Settings, tmp_path: Path) -> None:
    settings.frontend_dir = tmp_path / "nowhere"
    async for web in serve(settings):
        assert CDN["swagger-ui-bundle.js"] in (await web.get("/docs")).text
        assert CDN["redoc.standalone.js"] in (await web.get("/redoc")).text
