"""Five people typing at once: every page draws everyone else's cursor where they really are,
in the color the server gave them (the one they chose, when nobody else had it).

The pages type in turns, one key each, with pauses between the rounds: about eight keys a
second per person, so each page always has edits in flight while the others' arrive. At each
pause, once every page has everything, each page's drawing of each other person's caret must
be exactly that person's caret as their own page reports it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.app.live import WAIT_SECONDS, LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, converge, create_document, wait_synced

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

LINES = ["Agenda:", "Budget:", "Hiring:"]
# Who types where: two at the ends of one line, one at the start of another, one at an end,
# one at the very start of the text.
PEOPLE: list[tuple[str, str | None, int, str]] = [
    ("Ann", "#d7263d", 0, "End"),
    ("Bob", "#d7263d", 0, "Home"),  # wants Ann's color: gets another
    ("Cy", "#2a9d3a", 1, "End"),
    ("Dee", None, 2, "Home"),
    ("Eve", "#3949ab", 2, "End"),
]
WORDS = "plan the week then review the numbers and hire two people soon "
ROUNDS_PER_BURST = 20
BURSTS = 3
KEY_PAUSE_MS = 25  # between rounds: with five presses a round, about 8 keys a second each


def caret_of(page: Page) -> dict[str, Any]:
    me: dict[str, Any] = page.evaluate("window.collab.me()")
    return me


def drawn_on(page: Page) -> dict[str, dict[str, Any]]:
    cursors: list[dict[str, Any]] = page.evaluate("window.collab.cursors()")
    return {c["session"]: c for c in cursors}


def cursors_exact(pages: list[Page]) -> tuple[bool, str]:
    """Whether every page draws every other page's caret where it is; what differs if not."""
    me = [caret_of(p) for p in pages]
    wrong = []
    for i, page in enumerate(pages):
        drawn = drawn_on(page)
        for j, other in enumerate(me):
            if i == j:
                continue
            cursor = drawn.get(other["session"])
            if cursor is None or cursor["at"] != other["head"]:
                at = None if cursor is None else cursor["at"]
                wrong.append(f"{PEOPLE[i][0]} draws {PEOPLE[j][0]} at {at}, not {other['head']}")
    return not wrong, "; ".join(wrong)


def wait_cursors_exact(pages: list[Page]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        exact, what = cursors_exact(pages)
        if exact:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cursors not where their people are: {what}")
        pages[0].wait_for_timeout(50)  # a polling interval, not an assertion


def test_five_typists_see_each_others_cursors_exactly(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "\n".join(LINES) + "\n", title="Five at once")
    pages = [people.editor(doc_id, name, color=color) for name, color, _, _ in PEOPLE]
    for page in pages:
        wait_synced(page)
    for page, (_, _, line, key) in zip(pages, PEOPLE, strict=True):
        page.locator(f"{EDITOR} .cm-line >> nth={line}").click()
        page.keyboard.press(key)

    # Colors: distinct, each the one asked for unless someone had it already (the pages join
    # in no set order, and Dee, who asks for none, may be given one that Eve then asks for).
    colors = [caret_of(p)["color"] for p in pages]
    assert len(set(colors)) == len(PEOPLE), colors
    for (name, wish, _, _), color in zip(PEOPLE, colors, strict=True):
        if wish is not None:
            assert color == wish or wish in colors, (name, wish, colors)
    assert "#d7263d" in colors[:2]  # Ann and Bob both asked for it: one of them has it

    typed = 0
    for _ in range(BURSTS):
        for _ in range(ROUNDS_PER_BURST):
            for offset, page in enumerate(pages):
                page.keyboard.press(WORDS[(typed + 7 * offset) % len(WORDS)].replace(" ", "Space"))
            typed += 1
            pages[0].wait_for_timeout(KEY_PAUSE_MS)
        converge(server, doc_id, pages)
        wait_cursors_exact(pages)

    # Drawn in each person's color, on every other page.
    sessions = {caret_of(p)["session"]: color for p, color in zip(pages, colors, strict=True)}
    for page in pages:
        for session, cursor in drawn_on(page).items():
            assert cursor["color"] == sessions[session], (session, cursor)
