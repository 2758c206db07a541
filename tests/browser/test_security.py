"""Titles, names and text are shown as text, never run as markup; the CSP holds everywhere.

A title or text that got parsed as HTML would set ``window.__pwned`` (or, under the CSP, be
blocked and reported as a violation, and its ``<img src=x>`` would fail to load: a console
error). Any of the three fails these tests.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import (
    EDITOR,
    api,
    caret_to_end,
    converge,
    create_document,
    server_text,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TITLE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
TEXT = (
    "<b>not bold</b>\n"
    '<script>window.__pwned=3</script><img src=x onerror="window.__pwned=4">\n'
    "&amp; stays &amp;"
)
NAME = '<img src=x onerror="window.__pwned=5">'


def not_pwned(page: Page) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined", page.url
    assert page.locator("img[src='x'], #editor b, #editor script").count() == 0, page.url


def test_hostile_titles_text_and_names_stay_text(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, TEXT, title=TITLE)

    home = people.page("/")
    expect(home.locator(f'#docs li[data-id="{doc_id}"] a.doc-title')).to_have_text(TITLE)
    not_pwned(home)

    # Someone with a hostile name is here too: their name is shown as text in the list.
    mallory = people.editor(doc_id, NAME)
    ann = people.editor(doc_id, "Ann")
    expect(ann.locator("#title")).to_have_text(TITLE)
    expect(ann.locator("#people li[data-session]:not(.me) .person-name")).to_have_text(NAME)
    mallory.locator(EDITOR).click()
    expect(ann.locator(".cm-remote-cursor-label")).to_have_text(NAME)
    expect(ann.locator(EDITOR)).to_contain_text("<b>not bold</b>")
    expect(ann.locator(EDITOR)).to_contain_text("&amp; stays &amp;")
    caret_to_end(ann)
    ann.keyboard.insert_text(" <i>typed</i>")  # one edit, so one revision to look at
    converge(server, doc_id, [ann, mallory])
    ann_rev, _ = server_text(server, doc_id)
    caret_to_end(mallory)
    mallory.keyboard.insert_text(" <u>mine</u>")
    assert converge(server, doc_id, [ann, mallory]) == TEXT + " <i>typed</i> <u>mine</u>"
    expect(mallory.locator(EDITOR)).to_contain_text("<i>typed</i>")
    not_pwned(ann)
    not_pwned(mallory)

    home.reload()
    expect(home.locator(f'#docs li[data-id="{doc_id}"] .doc-editors')).to_contain_text(NAME)
    not_pwned(home)

    history = people.page(f"/d/{doc_id}/history")
    expect(history.locator("#title")).to_have_text(TITLE)
    expect(history.locator("#revisions")).to_contain_text(NAME)  # the author, as text
    history.locator(f'#revisions li button.revision[data-rev="{ann_rev}"]').click()
    expect(history.locator("#rev-text")).to_contain_text("<b>not bold</b>")
    expect(history.locator("#rev-text ins").first).to_contain_text("<i>typed</i>")
    not_pwned(history)

    for page in (home, ann, mallory, history):
        assert page.evaluate("window.__cspViolations") == [], page.url
    assert people.violations == []
    assert people.console_errors == [], people.console_errors


def test_every_page_and_asset_sends_the_csp(server: LiveServer) -> None:
    doc_id = create_document(server, "x")
    with api(server) as http:
        # The bundle and the stylesheet under the hashed names the page gives them.
        assets = re.findall(r'"(/assets/[^"]+\.(?:js|css))"', http.get(f"/d/{doc_id}").text)
        assert len(assets) == 2, assets
        for path in ["/", f"/d/{doc_id}", f"/d/{doc_id}/history", *assets]:
            response = http.get(path)
            assert response.status_code == 200, (path, response.status_code)
            policy = response.headers.get("content-security-policy", "")
            directives = {d.strip().split(" ")[0]: d.strip() for d in policy.split(";")}
            assert directives.get("default-src") == "default-src 'none'", (path, policy)
            script_src = directives.get("script-src", "").split()[1:]
            assert "'self'" in script_src, (path, policy)
            assert all(s == "'self'" or s.startswith("'nonce-") for s in script_src), policy
            assert "frame-ancestors 'none'" in policy, (path, policy)
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (path, policy)
            assert response.headers.get("x-content-type-options") == "nosniff", path
