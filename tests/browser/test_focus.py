"""A document just opened takes keystrokes without a click, the "Skip to the text" link
leads the keyboard into the text, and the API docs render with no network but ours."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, converge, create_document

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_a_new_document_takes_keystrokes_without_a_click(
    server: LiveServer, people: People
) -> None:
    doc_id = create_document(server)
    page = people.context("Ann").new_page()
    page.goto(f"/d/{doc_id}")
    # Focus comes once the text can be typed into; nothing here clicks.
    expect(page.locator(EDITOR)).to_be_focused()
    page.keyboard.type("typed at once", delay=20)
    assert converge(server, doc_id, [page]) == "typed at once"


def test_the_skip_link_leads_into_the_text(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Fruit")
    page = people.editor(doc_id, "Bob")
    skip = page.get_by_role("link", name="Skip to the text")
    skip.focus()
    expect(page.locator(EDITOR)).not_to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(EDITOR)).to_be_focused()
    page.keyboard.type("Ripe ", delay=20)
    assert converge(server, doc_id, [page]) == "Ripe Fruit"


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".swagger-ui .info"), ("/redoc", "h1")])
def test_the_api_docs_render_offline(
    server: LiveServer, people: People, path: str, rendered: str
) -> None:
    page = people.context().new_page()
    ours = urlsplit(server.http_url).netloc
    elsewhere: list[str] = []

    def only_ours(route: Route) -> None:
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:  # as with no internet: a CDN left in the page would leave it blank
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto(path)
    expect(page.locator(rendered).first).to_contain_text(re.compile("XMPP Collab"))
    # ReDoc's side menu shows Redocly's logo from their CDN, and hides it when it cannot
    # load: the one request off the server that the page can do without.
    assert set(elsewhere) <= {REDOCLY_LOGO}, elsewhere
