"""Unsent edits survive a closed tab: a page typing offline is closed, and the next visit
(online again) sends them, merged with what others wrote meanwhile as after any reconnect,
each edit applied once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import (
    caret_to_end,
    caret_to_start,
    converge,
    create_document,
    server_text,
    wait_synced,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_edits_typed_offline_arrive_after_the_tab_is_closed_and_opened_again(
    server: LiveServer, people: People
) -> None:
    doc_id = create_document(server, "Log:")
    ann = people.editor(doc_id, "Ann")
    bob = people.editor(doc_id, "Bob")
    context = ann.context

    caret_to_end(ann)
    context.set_offline(True)
    expect(ann.locator("#status")).to_have_attribute("data-state", "offline")
    ann.keyboard.type(" written on a train")
    assert ann.evaluate("window.collab.unsent()") > 0
    caret_to_start(bob)
    bob.keyboard.type("Meanwhile: ")
    wait_synced(bob)
    assert "train" not in server_text(server, doc_id)[1]

    ann.close(run_before_unload=False)  # the tab is closed, offline, edits unsent
    context.set_offline(False)
    again = context.new_page()
    again.goto(f"/d/{doc_id}")
    wait_synced(again)

    text = converge(server, doc_id, [again, bob])
    assert text == "Meanwhile: Log: written on a train"
    # Once the server has them, nothing is kept: a third visit starts clean.
    later = context.new_page()
    later.goto(f"/d/{doc_id}")
    wait_synced(later)
    assert later.evaluate("window.collab.unsent()") == 0
    expect(later.locator("#message")).not_to_contain_text("earlier visit")
    assert server_text(server, doc_id)[1] == text
