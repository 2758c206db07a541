"""Two and three people typing at one spot in real browsers, forwards, backwards (a letter
then the left arrow, each time) and one of each: each person's text stays in one piece
(docs/protocol.md, "Typing at the same spot").

Keys go to the pages in turn with a few milliseconds between them, so each page has letters
in flight or buffered while the others' arrive, for several seconds. Typing backwards works
because the page keeps its caret on the side of the person's own run when someone else's
letters land exactly at it (``caretAssoc`` in ``frontend/src/lib/changes.js``).
"""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import Page

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, converge, create_document

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

RUNS = {
    "Ann": "apple milk eggs ",
    "Bob": "BREAD BUTTER JAM ",
    "Cy": "0123456789+-*/=#",
}


def caret_after(page: Page, prefix: str) -> None:
    """Put the caret right after the document's first ``len(prefix)`` characters."""
    page.locator(EDITOR).click()
    page.keyboard.press("Control+Home")
    for _ in prefix:
        page.keyboard.press("ArrowRight")


def type_at_one_spot(
    typists: list[tuple[Page, str]], seed: int, backwards: frozenset[int] = frozenset()
) -> None:
    """Each page types its text; those in ``backwards`` from its last letter to its first,
    moving left after each, so that the text still reads the right way round."""
    rng = random.Random(seed)
    for turn in range(max(len(text) for _, text in typists)):
        for index, (page, text) in enumerate(typists):
            if turn < len(text):
                if index in backwards:
                    page.keyboard.type(text[len(text) - 1 - turn])
                    page.keyboard.press("ArrowLeft")
                else:
                    page.keyboard.type(text[turn])
            page.wait_for_timeout(rng.choice([0, 5, 15, 40]))


@pytest.mark.parametrize("count", [2, 3])
def test_runs_typed_forwards_at_one_spot_stay_whole(
    server: LiveServer, people: People, count: int
) -> None:
    doc_id = create_document(server, "List: | end")
    names = list(RUNS)[:count]
    pages = [people.editor(doc_id, name) for name in names]
    for page in pages:
        caret_after(page, "List: ")

    type_at_one_spot([(page, RUNS[name]) for page, name in zip(pages, names, strict=True)], count)

    text = converge(server, doc_id, pages)
    assert text.startswith("List: ") and text.endswith("| end"), text
    for name in names:
        assert RUNS[name] in text, f"{name}'s {RUNS[name]!r} is not in one piece: {text!r}"
    assert len(text) == len("List: | end") + sum(len(RUNS[n]) for n in names), text


@pytest.mark.parametrize(
    ("backwards", "label"), [(frozenset({0, 1}), "both backwards"), (frozenset({1}), "mixed")]
)
def test_runs_typed_backwards_at_one_spot_stay_whole(
    server: LiveServer, people: People, backwards: frozenset[int], label: str
) -> None:
    doc_id = create_document(server, "List: | end")
    names = ["Ann", "Bob"]
    pages = [people.editor(doc_id, name) for name in names]
    for page in pages:
        caret_after(page, "List: ")

    typists = [(page, RUNS[name]) for page, name in zip(pages, names, strict=True)]
    type_at_one_spot(typists, len(backwards), backwards)

    text = converge(server, doc_id, pages)
    assert text.startswith("List: ") and text.endswith("| end"), (label, text)
    for name in names:
        assert RUNS[name] in text, f"{label}: {name}'s {RUNS[name]!r} is split: {text!r}"
    assert len(text) == len("List: | end") + sum(len(RUNS[n]) for n in names), text
