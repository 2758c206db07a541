"""Who else is here: the people list, remote cursors and selections, a small screen.

The presence test also takes the README's screenshot of two people editing. It is written to
``docs/screenshots/two-people-editing.png`` with ``COLLAB_SCREENSHOTS=1``, which ``make test``
(and so CI) sets; a bare pytest run keeps it in a temporary directory, so working on the tests
does not keep rewriting the committed file:

    COLLAB_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser -k presence
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.app.live import LiveServer
from tests.browser.conftest import ROOT, People
from tests.browser.helpers import (
    EDITOR,
    WAIT_MS,
    api,
    caret_to_end,
    converge,
    create_document,
    text_of,
    wait_synced,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCREENSHOT = ROOT / "docs" / "screenshots" / "two-people-editing.png"

POEM = "\n".join(
    [
        "The sea is calm tonight.",
        "The tide is full, the moon lies fair",
        "Upon the straits; on the French coast the light",
        "Gleams and is gone; the cliffs of England stand,",
        "Glimmering and vast, out in the tranquil bay.",
        "Come to the window, sweet is the night-air!",
    ]
)


# Where someone's cursor is drawn, against the line it should be on: at its start (within a
# few pixels of the line's left edge) or its end (past the middle of a long line).
CURSOR_ON_LINE = """([name, line, at]) => {
    const cursor = document.querySelector(`.cm-remote-cursor[data-name="${name}"]`);
    const lines = [...document.querySelectorAll("#editor .cm-line")];
    const target = lines.at(line);
    if (!cursor || !target) return false;
    const c = cursor.getBoundingClientRect(), l = target.getBoundingClientRect();
    const onLine = c.top >= l.top - 4 && c.top < l.bottom;
    const x = at === "start" ? Math.abs(c.left - l.left) < 12 : c.left > l.left + l.width / 2;
    return onLine && x;
}"""


def wait_cursor_on_line(page: Page, name: str, line: int, at: str) -> None:
    try:
        page.wait_for_function(CURSOR_ON_LINE, arg=[name, line, at], timeout=WAIT_MS)
    except PlaywrightError as error:
        cursor = page.locator(f'.cm-remote-cursor[data-name="{name}"]').bounding_box()
        target = page.locator(f"#editor .cm-line >> nth={line}").bounding_box()
        raise AssertionError(
            f"{name}'s cursor is not at the {at} of line {line}: cursor {cursor}, line {target}"
        ) from error


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def test_people_and_remote_cursors(server: LiveServer, people: People, tmp_path: Path) -> None:
    doc_id = create_document(server, POEM, title="Dover Beach")
    ann = people.editor(doc_id, "Ann", color="#d7263d")
    bob = people.editor(doc_id, "Bob", color="#2e86de")

    for page, me, other in [(ann, "Ann", "Bob"), (bob, "Bob", "Ann")]:
        expect(page.locator("#people li[data-session]")).to_have_count(2)
        expect(page.locator("#people li.me .person-name")).to_have_text(me)
        expect(page.locator("#people li[data-session]:not(.me) .person-name")).to_have_text(other)

    ann.locator(EDITOR).click()
    ann.keyboard.press("Control+Home")
    cursor = bob.locator('.cm-remote-cursor[data-name="Ann"]')
    expect(cursor).to_have_count(1)
    expect(cursor.locator(".cm-remote-cursor-label")).to_have_text("Ann")
    wait_cursor_on_line(bob, "Ann", line=0, at="start")

    ann.keyboard.press("Control+End")
    wait_cursor_on_line(bob, "Ann", line=-1, at="end")

    # A selection shows as one too, and people typing is seen where they type.
    ann.keyboard.press("Shift+Home")
    expect(bob.locator(".cm-remote-selection").first).to_be_visible()
    bob.locator(EDITOR).click()
    bob.keyboard.press("Control+Home")
    bob.keyboard.press("End")
    bob.keyboard.type(" Listen!")
    expect(ann.locator('.cm-remote-cursor[data-name="Bob"]')).to_have_count(1)
    text = converge(server, doc_id, [ann, bob])
    assert text.startswith("The sea is calm tonight. Listen!\n"), text

    names = sorted(p["name"] for p in bob.evaluate("window.collab.people()"))
    assert names == ["Ann"], names

    path = SCREENSHOT if os.environ.get("COLLAB_SCREENSHOTS") == "1" else tmp_path / "shot.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    expect(
        bob.locator('.cm-remote-cursor[data-name="Ann"] .cm-remote-cursor-label')
    ).to_be_visible()
    bob.screenshot(path=str(path))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_someone_leaving_is_gone_from_the_list(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Short text.")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    expect(ann.locator("#people li[data-session]")).to_have_count(2)
    bob.close()
    expect(ann.locator("#people li[data-session]")).to_have_count(1)
    expect(ann.locator(".cm-remote-cursor")).to_have_count(0)


def test_small_screen_needs_no_horizontal_scrolling(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "A line long enough to wrap on a phone screen, surely.")
    ann = people.editor(doc_id, "Ann", width=375, height=740)
    people.editor(doc_id, "Bob", width=375, height=740)

    expect(ann.locator("#people li[data-session]")).to_have_count(2)
    for selector in ["#editor", "#people"]:
        expect(ann.locator(selector)).to_be_visible()
        shown = box(ann, selector)
        assert shown["x"] >= -1 and shown["x"] + shown["width"] <= 376, (selector, shown)
    assert ann.evaluate("document.documentElement.scrollWidth") <= 376

    home = people.page("/", width=375, height=740)
    expect(home.locator(f'#docs li[data-id="{doc_id}"]')).to_be_visible()
    assert home.evaluate("document.documentElement.scrollWidth") <= 376


def test_renaming_myself_shows_to_others(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Names.")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    expect(ann.locator("#people li[data-session]:not(.me) .person-name")).to_have_text("Bob")
    expect(bob.locator("#name-input")).to_have_value("Bob")

    bob.locator("#name-input").fill("Robert 🦊")
    bob.locator("#name-input").press("Enter")

    expect(ann.locator("#people li[data-session]:not(.me) .person-name")).to_have_text("Robert 🦊")
    expect(bob.locator("#people li.me .person-name")).to_have_text("Robert 🦊")
    assert bob.evaluate("localStorage.getItem('collab.name')") == "Robert 🦊"


def test_share_download_and_history_links(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Linked.", title="Linked")
    ann = people.editor(doc_id, "Ann")
    expect(ann.locator("#title")).to_have_text("Linked")
    expect(ann.locator("#share-url")).to_have_value(ann.url)
    expect(ann.locator("#download")).to_have_attribute("href", f"/api/documents/{doc_id}/export")
    expect(ann.locator("#history-link")).to_have_attribute(
        "href", re.compile(rf"/d/{doc_id}/history$")
    )
    ann.locator("#history-link").click()
    expect(ann).to_have_url(re.compile(rf"/d/{doc_id}/history$"))
    expect(ann.locator("#revisions")).to_be_attached()


def test_a_rename_and_a_reload_show_at_once(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Kept.", title="Old title")
    ann = people.editor(doc_id, "Ann")
    expect(ann.locator("#title")).to_have_text("Old title")
    with api(server) as http:
        assert http.patch(f"/api/documents/{doc_id}", json={"title": "New title"}).is_success
    expect(ann.locator("#title")).to_have_text("New title")

    caret_to_end(ann)
    ann.keyboard.type(" And typed.")
    converge(server, doc_id, [ann])
    ann.reload()
    wait_synced(ann)
    assert text_of(ann) == "Kept. And typed."
    expect(ann.locator("#title")).to_have_text("New title")
