"""The history page plays: Play steps the text through every revision from the first to the
newest, each step showing exactly the text the server has at that revision; the slider goes
straight to any revision."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, caret_to_end, converge, create_document, server_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SHOWN_TEXT = """() => {
  const view = document.querySelector('#rev-text');
  const copy = view.cloneNode(true);
  copy.querySelectorAll('del').forEach((d) => d.remove());
  return [Number(view.dataset.rev), copy.textContent];
}"""


def shown(page: Page) -> tuple[int, str]:
    rev, text = page.evaluate(SHOWN_TEXT)
    return int(rev), str(text)


def test_play_steps_through_every_revision_and_the_slider_jumps(
    server: LiveServer, people: People
) -> None:
    doc_id = create_document(server, "Start.", title="Played")
    ann = people.editor(doc_id, "Ann")
    for word in (" one", " two", " three", " four"):
        caret_to_end(ann)
        ann.keyboard.insert_text(word)  # one edit each: one revision each
        converge(server, doc_id, [ann])
    head, text = server_text(server, doc_id)
    assert text == "Start. one two three four" and head >= 4

    history = people.page(f"/d/{doc_id}/history", "Cleo")
    expect(history.locator("#rev-text")).to_have_attribute("data-rev", str(head))
    history.select_option("#speed", "2")  # slow enough to check every step
    history.locator("#play").click()
    expect(history.locator("#play")).to_have_attribute("aria-pressed", "true")
    for rev in range(0, head + 1):
        expect(history.locator("#rev-text")).to_have_attribute("data-rev", str(rev))
        assert shown(history) == (rev, server_text(server, doc_id, rev)[1]), rev
        expect(history.locator("#timeline")).to_have_value(str(rev))
    expect(history.locator("#play")).to_have_attribute("aria-pressed", "false")  # at the end

    # The slider: straight to revision 1.
    history.locator("#timeline").fill("1")
    expect(history.locator("#rev-text")).to_have_attribute("data-rev", "1")
    assert shown(history) == (1, server_text(server, doc_id, 1)[1])
    assert history.locator(EDITOR).count() == 0  # the history page has no editor
