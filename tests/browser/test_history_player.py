"""The history page plays: Play steps the text through every revision from the first to the
newest, each step showing exactly the text the server has at that revision; the slider goes
straight to any revision."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, caret_to_end, converge, create_document, server_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "history-player.png"

SHOWN_TEXT = """() => {
  const view = document.querySelector('#rev-text');
  const copy = view.cloneNode(true);
  copy.querySelectorAll('del').forEach((d) => d.remove());
  return [Number(view.dataset.rev), copy.textContent];
}"""


RECORD_STEPS = """() => {
  window.__steps = [];
  const view = document.querySelector('#rev-text');
  new MutationObserver(() => {
    const copy = view.cloneNode(true);
    copy.querySelectorAll('del').forEach((d) => d.remove());
    const rev = Number(view.dataset.rev);
    const last = window.__steps[window.__steps.length - 1];
    if (last === undefined || last[0] !== rev) {
      window.__steps.push([rev, copy.textContent, document.querySelector('#timeline').value]);
    }
  }).observe(view, { attributes: true, attributeFilter: ['data-rev'] });
}"""


def shown(page: Page) -> tuple[int, str]:
    rev, text = page.evaluate(SHOWN_TEXT)
    return int(rev), str(text)


def test_play_steps_through_every_revision_and_the_slider_jumps(
    server: LiveServer, people: People, tmp_path: Path
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
    # Each step as it is shown (recorded in the page, so a slow test machine misses none).
    history.evaluate(RECORD_STEPS)
    history.select_option("#speed", "8")
    history.locator("#play").click()
    expect(history.locator("#play")).to_have_attribute("aria-pressed", "false")  # at the end
    steps = history.evaluate("window.__steps")
    assert [rev for rev, _, _ in steps] == list(range(0, head + 1)), steps
    for rev, text, slider in steps:
        assert (text, slider) == (server_text(server, doc_id, rev)[1], str(rev)), rev

    # The slider: straight to revision 1.
    history.locator("#timeline").fill("1")
    expect(history.locator("#rev-text")).to_have_attribute("data-rev", "1")
    assert shown(history) == (1, server_text(server, doc_id, 1)[1])
    assert history.locator(EDITOR).count() == 0  # the history page has no editor

    # With the authors' colors, for docs/screenshots (COLLAB_SCREENSHOTS=1).
    history.locator("#by-author").check()
    expect(history.locator("#rev-authors li").first).to_be_visible()
    path = SCREENSHOT if os.environ.get("COLLAB_SCREENSHOTS") == "1" else tmp_path / "shot.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    history.screenshot(path=str(path))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_name_a_version_compare_with_it_restore_it_and_remove_the_name(
    server: LiveServer, people: People
) -> None:
    doc_id = create_document(server, "Plan A.", title="Named")
    ann = people.editor(doc_id, "Ann")
    caret_to_end(ann)
    ann.keyboard.insert_text(" Agreed.")
    converge(server, doc_id, [ann])
    caret_to_end(ann)
    ann.keyboard.insert_text(" Then changed.")
    converge(server, doc_id, [ann])
    head, _ = server_text(server, doc_id)

    history = people.page(f"/d/{doc_id}/history", "Cleo")
    expect(history.locator("#rev-text")).to_have_attribute("data-rev", str(head))
    expect(history.locator("#versions")).to_have_text("")  # none yet (the list is empty)

    history.locator(f'button.revision[data-rev="{head - 1}"]').click()
    expect(history.locator("#rev-text")).to_have_attribute("data-rev", str(head - 1))
    history.locator("#version-name").fill("Agreed version")
    history.locator("#name-version button").click()
    version = history.locator("#versions button.version")
    expect(version).to_have_text(f"Agreed version · r{head - 1}")

    # The newest against the named version: what changed since it.
    history.locator(f'button.revision[data-rev="{head}"]').click()
    history.select_option("#compare", str(head - 1))
    expect(history.locator("#rev-text ins")).to_have_text(" Then changed.")

    # Back to the named version, and restore it.
    version.click()
    expect(history.locator("#rev-text")).to_have_attribute("data-rev", str(head - 1))
    history.locator("#restore").click()
    history.locator("#confirm-restore-ok").click()
    history.wait_for_url(f"**/d/{doc_id}")  # the editor, with the restored text
    assert server_text(server, doc_id) == (head + 1, "Plan A. Agreed.")

    history.goto(f"/d/{doc_id}/history")
    expect(history.locator("#versions button.version")).to_have_count(1)
    history.locator("#versions .remove-version").click()
    expect(history.locator("#versions button.version")).to_have_count(0)
    expect(history.locator("#message")).to_contain_text("was removed")
