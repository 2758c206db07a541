"""People get pages for errors, programs get JSON."""

from __future__ import annotations

import httpx
import pytest

from app.http.errors import wants_html
from tests.app.http.test_api_documents import assert_error

pytestmark = pytest.mark.anyio

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html, application/json", True),
        ("*/*", False),
        ("", False),
    ],
)
def test_wants_html(accept: str, page: bool) -> None:
    assert wants_html(accept) is page


async def test_a_missing_document_is_a_page_for_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/documents/nope/export", headers={"Accept": BROWSER})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "document &#x27;nope&#x27; not found" in response.text
    assert '<a href="/">All documents</a>' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    (nonce,) = [p for p in policy.split(";") if "style-src" in p]
    assert nonce.strip().split("'nonce-")[1].rstrip("'") in response.text
    # The same call from a program, or from the page's own scripts: JSON.
    assert_error(await client.get("/api/documents/nope/export"), 404, "document-not-found")
    assert_error(
        await client.get("/api/documents/nope/export", headers={"Accept": "application/json"}),
        404,
        "document-not-found",
    )


async def test_an_unknown_address_is_a_page_for_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/<page>", headers={"Accept": BROWSER})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is nothing at /no/such/%3Cpage%3E." in response.text or (
        "There is nothing at /no/such/&lt;page&gt;." in response.text
    )
    assert "<page>" not in response.text
    error = assert_error(await client.get("/no/such/page"), 404, "not-found")
    assert error["message"] == "There is nothing at /no/such/page."


async def test_a_bad_revision_is_a_page_too(client: httpx.AsyncClient) -> None:
    from tests.app.http.test_api_documents import create

    await create(client, id="r", title="R", text="x")
    response = await client.get("/api/documents/r/text?rev=9", headers={"Accept": BROWSER})
    assert response.status_code == 404
    assert "revisions 0 to 0" in response.text
