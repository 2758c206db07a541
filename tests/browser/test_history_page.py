"""The history page: revisions with their changes marked, and restoring an old one while two
people have the document open."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import (
    EDITOR,
    caret_to_end,
    converge,
    create_document,
    server_text,
    wait_text,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_restore_an_old_revision(server: LiveServer, people: People) -> None:
    doc_id = create_document(server, "Draft one.", title="Restorable")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")

    caret_to_end(ann)
    ann.keyboard.type(" Second thoughts.")
    converge(server, doc_id, [ann, bob])
    kept_rev, kept_text = server_text(server, doc_id)
    assert kept_text == "Draft one. Second thoughts."

    bob.locator(EDITOR).click()
    bob.keyboard.press("Control+Home")
    bob.keyboard.press("Shift+End")
    bob.keyboard.insert_text("Everything replaced by Bob.")  # one edit: one revision
    assert converge(server, doc_id, [ann, bob]) == "Everything replaced by Bob."

    history = people.page(f"/d/{doc_id}/history", "Cleo")
    expect(history.locator("#title")).to_have_text("Restorable")
    revisions = history.locator("#revisions li button.revision[data-rev]")
    expect(revisions.first).to_be_visible()
    shown = {int(r) for r in revisions.evaluate_all("(bs) => bs.map((b) => b.dataset.rev)")}
    assert kept_rev in shown and kept_rev + 1 in shown, shown

    # Bob's replacement, with what it took out and what it put in.
    history.locator(f'button.revision[data-rev="{kept_rev + 1}"]').click()
    expect(history.locator("#rev-heading")).to_contain_text(str(kept_rev + 1))
    expect(history.locator("#rev-text del").first).to_contain_text("Draft")
    expect(history.locator("#rev-text ins").first).to_contain_text("Bob")

    history.locator(f'button.revision[data-rev="{kept_rev}"]').click()
    expect(history.locator("#rev-heading")).to_contain_text(str(kept_rev))
    expect(history.locator("#rev-text")).to_contain_text("Second thoughts.")
    history.locator("#restore").click()
    expect(history.locator("#confirm-restore")).to_be_visible()
    history.locator("#confirm-restore-ok").click()
    expect(history).to_have_url(re.compile(rf"/d/{doc_id}$"))

    for page in (ann, bob):
        wait_text(page, "(text, want) => text === want", kept_text)
    assert converge(server, doc_id, [ann, bob, history]) == kept_text
    rev, _ = server_text(server, doc_id)
    assert rev > kept_rev + 1, "a restore is a new revision, not a rewrite of history"
