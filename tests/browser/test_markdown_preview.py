"""Markdown documents get a preview beside the text, which follows the typing and never runs
what the text holds; any document prints as its whole text (or as its preview)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import caret_to_end, create_document

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TEXT = "# Plan\n\nSome **bold** and <img src=x onerror=window.pwned=1>\n\n- one\n- two\n"


def test_a_markdown_document_is_previewed_and_prints(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, TEXT, title="plan.md")
    page = people.editor(doc_id, "Ann")
    preview = page.locator("#preview")
    expect(preview).to_be_visible()  # on by default for a .md title
    expect(preview.locator("h1")).to_have_text("Plan")
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview.locator("li")).to_have_count(2)
    expect(preview).to_contain_text("<img src=x onerror=window.pwned=1>")  # as text
    assert preview.locator("img").count() == 0
    assert page.evaluate("window.pwned") is None

    caret_to_end(page)
    page.keyboard.type("- three")
    expect(preview.locator("li")).to_have_count(3)

    # Printing: the preview, without the page around it.
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    expect(page.locator("#print-area h1")).to_have_text("Plan")
    expect(page.locator(".editor-layout")).to_be_hidden()
    page.emulate_media(media="screen")

    page.locator("#preview-toggle").uncheck()
    expect(preview).to_be_hidden()


def test_other_documents_print_their_whole_text(server: LiveServer, people: People) -> None:
    lines = "".join(f"line {n}\n" for n in range(400))  # far more than the editor draws
    doc_id = create_document(server, lines, title="long.txt")
    page = people.editor(doc_id, "Ann")
    expect(page.locator("#preview")).to_be_hidden()
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    printed = page.locator("#print-area pre")
    expect(printed).to_be_visible()
    assert printed.text_content() == lines
