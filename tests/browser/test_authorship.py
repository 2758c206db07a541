"""Authorship colors, and the editor's view options, in real browsers.

Who wrote what is known for every character: typed text takes its typist's color at once on
every page, keeps it after a reload (the runs come with the snapshot, over the socket), and
the history page shows it at any revision. Chosen colors: test_colors.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import (
    EDITOR,
    api,
    converge,
    create_document,
    server_text,
    type_together,
    wait_synced,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "authorship-colors.png"


def authors_by_char(page: Page) -> list[str | None]:
    """One author per UTF-16 unit of the page's text, as the page attributes it."""
    value = page.evaluate("window.collab.authorship()")
    every: list[str | None] = []
    for _, length, author in value["runs"]:
        every.extend([author] * length)
    return every


def wait_authorship_known(page: Page) -> None:
    page.wait_for_function("() => window.collab?.authorship?.().known === true")


def assert_written_by(page: Page, text: str, part: str, author: str | None) -> None:
    start = text.index(part)
    every = authors_by_char(page)
    assert len(every) == len(text), (len(every), len(text))
    got = set(every[start : start + len(part)])
    assert got == {author}, f"{part!r} is attributed to {got} on {page.url}, not {author!r}"


def mark_color(page: Page, author: str) -> str:
    """The background of the first span of ``author``'s text, as the browser paints it."""
    span = page.locator(f'.cm-author[data-author="{author}"]').first
    expect(span).to_be_visible()
    color: str = span.evaluate("e => getComputedStyle(e).backgroundColor")
    return color


def legend_color(page: Page, author: str, legend: str = "#authors") -> str:
    item = page.locator(f'{legend} li[data-author="{author}"]')
    expect(item).to_have_count(1)
    color = item.get_attribute("data-color")
    assert color, f"{author} has no color in the legend"
    return color


def rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def assert_tinted(page: Page, author: str) -> None:
    """``author``'s text has a soft background in the color the legend gives them."""
    painted = mark_color(page, author)
    r, g, b = rgb(legend_color(page, author))
    assert painted.startswith(f"rgba({r}, {g}, {b}, "), (author, painted, (r, g, b))


def test_colors_follow_the_typist_live_and_after_reload(
    server: LiveServer, people: People, tmp_path: Path
) -> None:
    doc_id = create_document(server, "Shopping list\n\n", title="Groceries")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    for page in (ann, bob):
        wait_authorship_known(page)

    ann.locator(EDITOR).click()
    ann.keyboard.press("Control+End")
    ann.keyboard.type("apples and pears")
    bob.locator(EDITOR).click()
    bob.keyboard.press("Control+Home")
    bob.keyboard.press("End")
    bob.keyboard.type(" for Sunday")
    text = converge(server, doc_id, [ann, bob])
    assert text == "Shopping list for Sunday\n\napples and pears", text
    bob.keyboard.press("Control+End")
    bob.keyboard.type("\ncoffee beans, milk")
    ann.keyboard.type(", fresh bread")
    text = converge(server, doc_id, [ann, bob])

    for page in (ann, bob):
        assert_written_by(page, text, "apples and pears", "Ann")
        assert_written_by(page, text, ", fresh bread", "Ann")
        assert_written_by(page, text, "coffee beans, milk", "Bob")
        assert_written_by(page, text, " for Sunday", "Bob")
        assert_written_by(page, text, "Shopping list", None)
        assert_tinted(page, "Ann")
        assert_tinted(page, "Bob")
    assert legend_color(ann, "Ann") != legend_color(ann, "Bob")
    # Every page gives a person the same color, and their cursor has it too.
    assert legend_color(ann, "Bob") == legend_color(bob, "Bob")
    assert legend_color(bob, "Ann") == legend_color(ann, "Ann")

    # After a reload the page knows it from the server's log.
    bob.reload()
    wait_synced(bob)
    wait_authorship_known(bob)
    assert_written_by(bob, text, "apples and pears", "Ann")
    assert_written_by(bob, text, " for Sunday", "Bob")
    assert_tinted(bob, "Ann")
    with api(server) as http:
        blame = http.get(f"/api/documents/{doc_id}/blame").json()
    assert blame["authors"] == ["Bob", "Ann"], blame

    # Switched off: no tint, remembered across a reload.
    bob.locator("#authorship-toggle").uncheck()
    expect(bob.locator(".cm-author")).to_have_count(0)
    bob.reload()
    wait_synced(bob)
    expect(bob.locator("#authorship-toggle")).not_to_be_checked()
    expect(bob.locator(".cm-author")).to_have_count(0)
    bob.locator("#authorship-toggle").check()
    expect(bob.locator('.cm-author[data-author="Ann"]').first).to_be_visible()

    path = SCREENSHOT if os.environ.get("COLLAB_SCREENSHOTS") == "1" else tmp_path / "shot.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    ann.locator(EDITOR).click()
    ann.screenshot(path=str(path))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_history_shows_who_wrote_what_at_a_revision(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "", title="Letters")
    ann = people.editor(doc_id, "Ann")
    ann.locator(EDITOR).click()
    ann.keyboard.type("Dear Bob,")
    converge(server, doc_id, [ann])
    bob = people.editor(doc_id, "Bob")
    bob.locator(EDITOR).click()
    bob.keyboard.press("Control+End")
    bob.keyboard.type(" thanks!")
    converge(server, doc_id, [ann, bob])

    rev, _ = server_text(server, doc_id)
    history = people.page(f"/d/{doc_id}/history", name="Cy")
    expect(history.locator("#rev-heading")).to_have_text(f"Revision {rev}")
    history.locator("#by-author").check()
    bobs = history.locator('#rev-text .author[data-author="Bob"]')
    expect(bobs.first).to_be_visible()
    anns = history.locator('#rev-text .author[data-author="Ann"]')
    assert "".join(bobs.all_text_contents()) == " thanks!"
    assert "".join(anns.all_text_contents()) == "Dear Bob,"
    expect(history.locator("#rev-text")).to_have_text("Dear Bob, thanks!")
    for name in ("Ann", "Bob"):
        r, g, b = rgb(legend_color(history, name, "#rev-authors"))
        painted = history.locator(f'#rev-text .author[data-author="{name}"]').first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert painted.startswith(f"rgba({r}, {g}, {b}, "), (name, painted)

    # An earlier revision: only what Ann had written by then; the choice is remembered.
    _, early = server_text(server, doc_id, 1)
    assert early and "Dear Bob,".startswith(early), early
    history.goto(f"/d/{doc_id}/history?rev=1")
    expect(history.locator("#by-author")).to_be_checked()
    expect(history.locator("#rev-text")).to_have_text(early)
    expect(history.locator('#rev-text .author[data-author="Bob"]')).to_have_count(0)
    expect(history.locator('#rev-authors li[data-author="Ann"]')).to_have_count(1)


def test_line_numbers_word_count_and_dark_mode(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "one two\nthree 😀\n", title="Counting")
    ann = people.editor(doc_id, "Ann")
    expect(ann.locator("#counts")).to_have_text("4 words · 16 characters")
    ann.locator(EDITOR).click()
    ann.keyboard.press("Control+End")
    ann.keyboard.type("four five")
    expect(ann.locator("#counts")).to_have_text("6 words · 25 characters")

    # Line numbers: off at first, on when asked, and remembered.
    expect(ann.locator(".cm-lineNumbers")).to_have_count(0)
    ann.locator("#line-numbers-toggle").check()
    expect(ann.locator(".cm-lineNumbers .cm-gutterElement", has_text="3")).to_be_visible()
    ann.reload()
    wait_synced(ann)
    expect(ann.locator("#line-numbers-toggle")).to_be_checked()
    expect(ann.locator(".cm-lineNumbers .cm-gutterElement", has_text="3")).to_be_visible()

    # The system's theme by default; dark or light when chosen, remembered.
    html = ann.locator("html")
    ann.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-theme", "light")
    ann.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-theme", "dark")
    background = ann.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(22, 25, 31)", background
    ann.locator("#theme-select").select_option("light")
    expect(html).to_have_attribute("data-theme", "light")
    ann.reload()
    wait_synced(ann)
    expect(html).to_have_attribute("data-theme", "light")
    ann.locator("#theme-select").select_option("dark")
    ann.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-theme", "dark")
    editor_bg = ann.evaluate(
        "getComputedStyle(document.querySelector('#editor .cm-editor')).backgroundColor"
    )
    assert editor_bg == "rgb(22, 25, 31)", editor_bg
    # Other pages follow the choice.
    ann.goto("/")
    expect(ann.locator("html")).to_have_attribute("data-theme", "dark")
    expect(ann.locator("#theme-select")).to_have_value("dark")
    ann.locator("#theme-select").select_option("system")
    expect(ann.locator("html")).to_have_attribute("data-theme", "light")  # the system's now


def test_a_deleted_document_closes_the_editor(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Soon gone.", title="Ephemeral")
    ann = people.editor(doc_id, "Ann")
    with api(server) as http:
        assert http.delete(f"/api/documents/{doc_id}").status_code == 204
    banner = ann.locator("#closed-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("This document was deleted.")
    expect(ann.locator(EDITOR)).to_have_attribute("contenteditable", "false")
    assert ann.evaluate("window.collab.text()") == "Soon gone."


def test_a_missing_document_and_a_missing_page_say_so(server: LiveServer, people: People) -> None:
    page = people.page("/d/doc-never-made", name="Ann")
    banner = page.locator("#closed-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("This document does not exist.")
    expect(banner.get_by_role("link", name="All documents")).to_have_attribute("href", "/")
    # A browser following a link to something that is not there gets a page, not JSON.
    response = page.goto("/api/documents/doc-never-made/export")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("body")).to_contain_text("document 'doc-never-made' not found")
    page.goto("/no/such/page")
    expect(page.locator("body")).to_contain_text("There is nothing at /no/such/page.")
    page.get_by_role("link", name="All documents").click()
    expect(page).to_have_url(f"{server.http_url}/")


def test_typing_at_once_every_page_agrees_with_the_server(
    server: LiveServer, people: People
) -> None:
    """Ann and Bob type at once, on different lines; each page's attribution, built live from
    the revisions it folds, is the server's, character for character."""
    doc_id = create_document(server, "Minutes\n\nActions\n", title="Meeting")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    for page in (ann, bob):
        wait_authorship_known(page)
    ann.locator(EDITOR).click()
    ann.keyboard.press("Control+Home")
    ann.keyboard.press("ArrowDown")
    bob.locator(EDITOR).click()
    bob.keyboard.press("Control+End")
    type_together([(ann, "we agreed on the plan"), (bob, "- Bob books the room")], chunk=3)
    text = converge(server, doc_id, [ann, bob])
    assert "we agreed on the plan" in text and "- Bob books the room" in text, text

    with api(server) as http:
        blame = http.get(f"/api/documents/{doc_id}/blame").json()
    expected: list[str | None] = []
    for _, length, author in blame["runs"]:
        expected.extend([author] * length)
    assert expected[text.index("we agreed") : text.index("we agreed") + 21] == ["Ann"] * 21
    for page in (ann, bob):
        page.wait_for_function(
            "() => !window.collab.authorship().runs.some(([, , a]) => a === '\\u0000me')"
        )
        assert authors_by_char(page) == expected, page.url
