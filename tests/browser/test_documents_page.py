"""The documents page: create, rename, delete, search, import, and who is editing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import api, converge, create_document, text_of, wait_synced

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

EDITOR_URL = re.compile(r"/d/([A-Za-z0-9_.~-]+)$")


def doc_id_of(page: Page) -> str:
    found = EDITOR_URL.search(page.url)
    assert found, f"not an editor page: {page.url}"
    return found.group(1)


def title_on_server(server: LiveServer, doc_id: str) -> str | None:
    with api(server) as http:
        response = http.get(f"/api/documents/{doc_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    title: str = response.json()["title"]
    return title


def test_create_rename_and_delete(server: LiveServer, people: People) -> None:
    home = people.page("/", "Ann")
    home.locator("#new-title").fill("Plan 🚀 für 2025")
    home.locator("#new-title").press("Enter")
    expect(home).to_have_url(EDITOR_URL)
    doc_id = doc_id_of(home)
    wait_synced(home)
    expect(home.locator("#title")).to_have_text("Plan 🚀 für 2025")
    assert title_on_server(server, doc_id) == "Plan 🚀 für 2025"

    home.goto("/")
    item = home.locator(f'#docs li[data-id="{doc_id}"]')
    expect(item.locator("a.doc-title")).to_have_text("Plan 🚀 für 2025")
    expect(item.locator(".doc-updated")).not_to_be_empty()

    item.locator("button.rename").click()
    expect(home.locator("#rename-dialog")).to_be_visible()
    home.locator("#rename-input").fill("Plan B")
    home.locator("#rename-ok").click()
    expect(home.locator("#rename-dialog")).to_be_hidden()
    expect(item.locator("a.doc-title")).to_have_text("Plan B")
    assert title_on_server(server, doc_id) == "Plan B"

    item.locator("button.delete").click()
    expect(home.locator("#confirm-delete")).to_be_visible()
    home.keyboard.press("Escape")
    expect(home.locator("#confirm-delete")).to_be_hidden()
    expect(item).to_be_visible()
    assert title_on_server(server, doc_id) == "Plan B"

    item.locator("button.delete").click()
    expect(home.locator("#confirm-delete")).to_be_visible()
    home.locator("#confirm-delete-ok").click()
    expect(item).to_have_count(0)
    assert title_on_server(server, doc_id) is None
    other = create_document(server, title="Still here")
    home.reload()
    expect(home.locator(f'#docs li[data-id="{other}"]')).to_be_visible()
    expect(home.locator(f'#docs li[data-id="{doc_id}"]')).to_have_count(0)


def test_search_filters_the_list(server: LiveServer, people: People) -> None:
    quarterly = [
        create_document(server, title="Quarterly report"),
        create_document(server, title="Budget, quarterly"),
    ]
    shopping = create_document(server, title="Shopping list")
    home = people.page("/")
    expect(home.locator(f'#docs li[data-id="{shopping}"]')).to_be_visible()

    home.locator("#search").fill("QUARTERLY")
    expect(home.locator(f'#docs li[data-id="{shopping}"]')).to_have_count(0)
    for doc_id in quarterly:
        expect(home.locator(f'#docs li[data-id="{doc_id}"]')).to_be_visible()
    expect(home.locator("#docs li[data-id]")).to_have_count(2)

    home.locator("#search").fill("")
    expect(home.locator(f'#docs li[data-id="{shopping}"]')).to_be_visible()


def test_import_a_text_file(server: LiveServer, people: People) -> None:
    text = "Grüße aus Köln — 你好 👋🏽\nzweite Zeile\ncafe\u0301 and café\n"
    home = people.page("/", "Ann")
    expect(home.locator("#import-file")).to_be_attached()
    home.locator("#import-file").set_input_files(
        files=[{"name": "notes-ü.txt", "mimeType": "text/plain", "buffer": text.encode("utf-8")}]
    )
    expect(home).to_have_url(EDITOR_URL)
    doc_id = doc_id_of(home)
    wait_synced(home)
    assert text_of(home) == text
    assert converge(server, doc_id, [home]) == text
    assert title_on_server(server, doc_id) == "notes-ü.txt"


def test_who_is_editing(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Busy document.", title="Busy document")
    home = people.page("/")
    editors = home.locator(f'#docs li[data-id="{doc_id}"] .doc-editors')
    expect(editors).not_to_contain_text("Cleo")

    people.editor(doc_id, "Cleo")
    home.reload()
    expect(editors).to_contain_text("Cleo")


def test_keyboard_alone_creates_a_document(server: LiveServer, people: People) -> None:
    home = people.page("/")
    expect(home.locator("#new-title")).to_be_visible()
    for _ in range(30):
        home.keyboard.press("Tab")
        if home.evaluate("document.activeElement?.id") == "new-title":
            break
    else:
        pytest.fail("Tab never reached #new-title")
    home.keyboard.type("Typed without a mouse")
    home.keyboard.press("Enter")
    expect(home).to_have_url(EDITOR_URL)
    expect(home.locator("#title")).to_have_text("Typed without a mouse")
    assert title_on_server(server, doc_id_of(home)) == "Typed without a mouse"
