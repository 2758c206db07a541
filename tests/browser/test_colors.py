"""Chosen colors, in real browsers: picked with the keyboard, remembered, refused while someone
else has them, and the same for a person's cursor, their name and their text, on every page,
after a reload and in the history.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, expect

from app.core import colors
from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import (
    EDITOR,
    converge,
    create_document,
    server_text,
    type_together,
    wait_synced,
)
from tests.browser.test_authorship import (
    assert_written_by,
    legend_color,
    mark_color,
    rgb,
    wait_authorship_known,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PURPLE, TEAL, BLUE = "#8e44ad", "#1b998b", "#2e86de"


def my_color(page: Page) -> str:
    color: str = page.evaluate("window.collab.me().color")
    return color


def painted_in(page: Page, author: str, color: str) -> None:
    r, g, b = rgb(color)
    assert legend_color(page, author) == color, (page.url, author)
    assert mark_color(page, author).startswith(f"rgba({r}, {g}, {b}, "), (author, color)


def cursor_color(page: Page, name: str) -> str:
    cursor = page.locator(f'.cm-remote-cursor[data-name="{name}"]')
    expect(cursor).to_have_count(1)
    color: str = cursor.evaluate("e => e.style.getPropertyValue('--person-color')")
    return color


def test_chosen_colors_follow_the_typist_everywhere(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Menu\n\n", title="Dinner")
    ann = people.editor(doc_id, "Ann", color=PURPLE)
    bob = people.editor(doc_id, "Bob")
    for page in (ann, bob):
        wait_authorship_known(page)
    assert my_color(ann) == PURPLE
    assert my_color(bob) not in (PURPLE, "")  # given one nobody else has

    # Bob picks with the keyboard: the palette is a radio group; Ann's color is not his to take.
    purple = bob.get_by_role("radio", name="Purple (Ann has it)")
    expect(purple).to_be_disabled()
    bob.get_by_role("radio", name="Teal").focus()
    bob.keyboard.press("Space")
    expect(bob.get_by_role("radio", name="Teal")).to_be_checked()
    bob.keyboard.press("ArrowRight")
    expect(bob.get_by_role("radio", name="Blue")).to_be_checked()
    bob.keyboard.press("ArrowLeft")
    expect(bob.get_by_role("radio", name="Teal")).to_be_checked()
    assert bob.evaluate("localStorage.getItem('collab.color')") == TEAL
    ann.wait_for_function(
        "color => window.collab.people().some(p => p.name === 'Bob' && p.color === color)",
        arg=TEAL,
    )
    expect(ann.get_by_role("radio", name="Teal (Bob has it)")).to_be_disabled()
    # Ann's color typed into the color input: refused, and Bob keeps his.
    bob.locator("#color-input").fill(PURPLE)
    expect(bob.locator("#message")).to_have_text(
        "Someone here has that color already; you keep yours."
    )
    bob.wait_for_function("color => window.collab.me().color === color", arg=TEAL)
    expect(bob.get_by_role("radio", name="Teal")).to_be_checked()
    assert bob.evaluate("localStorage.getItem('collab.color')") == TEAL  # still his choice

    ann.locator(EDITOR).click()
    ann.keyboard.press("Control+End")
    bob.locator(EDITOR).click()
    bob.keyboard.press("Control+Home")
    bob.keyboard.press("End")
    type_together([(ann, "soup, bread and cheese"), (bob, " for six")], chunk=2)
    text = converge(server, doc_id, [ann, bob])
    assert text == "Menu for six\n\nsoup, bread and cheese", text
    for page in (ann, bob):
        assert_written_by(page, text, "soup, bread and cheese", "Ann")
        assert_written_by(page, text, " for six", "Bob")
        painted_in(page, "Ann", PURPLE)
        painted_in(page, "Bob", TEAL)
    assert cursor_color(ann, "Bob") == TEAL
    assert cursor_color(bob, "Ann") == PURPLE

    # A reload: the chosen color comes back, and who wrote what comes with the snapshot over
    # the socket (no REST request for it).
    blame_requests: list[str] = []

    def note(request: Request) -> None:
        if "/blame" in request.url:
            blame_requests.append(request.url)

    bob.on("request", note)
    bob.reload()
    wait_synced(bob)
    wait_authorship_known(bob)
    assert my_color(bob) == TEAL
    assert_written_by(bob, text, "soup, bread and cheese", "Ann")
    painted_in(bob, "Ann", PURPLE)
    painted_in(bob, "Bob", TEAL)
    assert blame_requests == []

    # Any other color, from the color input: everyone's marks and cursors follow.
    ann.locator("#color-input").fill("#123456")
    assert ann.evaluate("localStorage.getItem('collab.color')") == "#123456"
    bob.wait_for_function(
        "() => window.collab.authorship().colors.Ann === '#123456'",
    )
    painted_in(bob, "Ann", "#123456")
    painted_in(ann, "Ann", "#123456")
    expect(bob.locator('.cm-remote-cursor[data-name="Ann"]')).to_have_count(1)
    assert cursor_color(bob, "Ann") == "#123456"

    # The history shows the same colors while they are here.
    rev, _ = server_text(server, doc_id)
    history = people.page(f"/d/{doc_id}/history", name="Cy")
    expect(history.locator("#rev-heading")).to_have_text(f"Revision {rev}")  # the page is set up
    history.locator("#by-author").check()
    expect(history.locator('#rev-text .author[data-author="Bob"]').first).to_be_visible()
    assert legend_color(history, "Ann", "#rev-authors") == "#123456"
    assert legend_color(history, "Bob", "#rev-authors") == TEAL


def test_a_given_color_stays_across_a_reconnect(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Notes\n", title="Notes")
    # Fay has the color Dee would be given first, so Dee is given the next one.
    first_choice = colors.PALETTE[colors.slot(doc_id, "Dee")]
    fay = people.editor(doc_id, "Fay", color=first_choice)
    dee = people.editor(doc_id, "Dee")
    given = my_color(dee)
    assert given != first_choice
    assert dee.evaluate("localStorage.getItem('collab.color')") is None
    # Fay leaves and Dee's connection drops: back, Dee keeps the color she had.
    fay.close()
    dee.context.set_offline(True)
    dee.wait_for_function("() => window.collab.state() === 'offline'")
    dee.context.set_offline(False)
    wait_synced(dee)
    dee.wait_for_function("() => window.collab.me().session !== null")
    assert my_color(dee) == given
    assert dee.evaluate("localStorage.getItem('collab.color')") is None  # given, not chosen
