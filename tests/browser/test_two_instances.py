"""Two people on two app instances: their edits meet only through Prosody's pubsub nodes.

Each instance is its own uvicorn process; they share a database and a real Prosody, as a
deployment behind a load balancer would. Ann's page talks to instance A, Bob's to instance B.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.app.live import LiveServer, external_xmpp
from tests.browser.conftest import People
from tests.browser.helpers import (
    EDITOR,
    converge,
    create_document,
    server_text,
    type_together,
    wait_synced,
    words_once,
)
from tests.xmpp_support import ProsodyForTests, prosody

__all__ = ["prosody"]  # the session's Prosody, a fixture

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture
def instances(tmp_path: Path, prosody: ProsodyForTests) -> Iterator[tuple[LiveServer, LiveServer]]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = (
        LiveServer(
            tmp_path / name,
            **external_xmpp(prosody.service, f"browser-{name}"),
            database_url=database,
            idle_unload_seconds=0,
        )
        for name in ("a", "b")
    )
    first.start()
    try:
        second.start()
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def open_on(people: People, instance: LiveServer, doc_id: str, name: str) -> Page:
    page = people.context(name).new_page()
    page.goto(f"{instance.http_url}/d/{doc_id}")
    wait_synced(page)
    return page


def test_pages_on_two_instances_converge_through_xmpp(
    browser: Browser, instances: tuple[LiveServer, LiveServer]
) -> None:
    a, b = instances
    doc_id = create_document(a, "first line\nlast line")
    people = People(browser, a)
    try:
        ann = open_on(people, a, doc_id, "Ann")
        bob = open_on(people, b, doc_id, "Bob")
        ann.locator(EDITOR).click()
        ann.keyboard.press("Control+Home")
        bob.locator(EDITOR).click()
        bob.keyboard.press("Control+End")
        type_together([(ann, "Ann was here. "), (bob, " Bob too, via pubsub.")])
        text = converge(a, doc_id, [ann, bob])
        assert text == "Ann was here. first line\nlast line Bob too, via pubsub."
        assert server_text(b, doc_id)[1] == text, "instance B serves the same text"
        words_once(text, ["Ann was here.", "Bob too, via pubsub."])
    finally:
        people.close()
    assert people.page_errors == [], people.page_errors
    assert people.violations == [], people.violations


def test_people_on_two_instances_see_each_other(
    browser: Browser, instances: tuple[LiveServer, LiveServer]
) -> None:
    """Ann is on instance A first; Bob opens the document on instance B later, when Ann's
    arrival was relayed long before B listened. Both see each other at once, without
    anyone moving, and then each other's cursor."""
    a, b = instances
    doc_id = create_document(a, "first line\nlast line")
    people = People(browser, a)
    try:
        ann = open_on(people, a, doc_id, "Ann")
        bob = open_on(people, b, doc_id, "Bob")
        for page, me, other in [(ann, "Ann", "Bob"), (bob, "Bob", "Ann")]:
            expect(page.locator("#people li[data-session]")).to_have_count(2)
            expect(page.locator("#people li.me .person-name")).to_have_text(me)
            expect(page.locator("#people li[data-session]:not(.me) .person-name")).to_have_text(
                other
            )
        ann.locator(EDITOR).click()
        ann.keyboard.press("Control+End")
        expect(bob.locator('.cm-remote-cursor[data-name="Ann"]')).to_have_count(1)
        bob.locator(EDITOR).click()
        bob.keyboard.press("Control+Home")
        expect(ann.locator('.cm-remote-cursor[data-name="Bob"]')).to_have_count(1)
    finally:
        people.close()
    assert people.page_errors == [], people.page_errors


def test_one_color_asked_for_on_two_instances_goes_to_one_person(
    browser: Browser, instances: tuple[LiveServer, LiveServer]
) -> None:
    """Ann (on A) and Bob (on B) both chose red. Whoever of them B's instance and A's hear
    of first, they end with two colors, the same on both pages, and one of them red."""
    a, b = instances
    doc_id = create_document(a, "first line\nlast line")
    people = People(browser, a)
    red = "#d7263d"
    try:
        pages = [people.context(name, color=red).new_page() for name in ("Ann", "Bob")]
        pages[0].goto(f"{a.http_url}/d/{doc_id}")
        pages[1].goto(f"{b.http_url}/d/{doc_id}")
        for page in pages:
            wait_synced(page)
            page.locator(EDITOR).click()  # a presence update, as anyone's first click sends
        seen = """() => {
            const me = window.collab.me();
            const people = window.collab.people();
            const other = people[0];
            if (people.length !== 1 || me.color === other.color) return null;
            return JSON.stringify([[me.session, me.color], [other.session, other.color]].sort());
        }"""
        views = [page.wait_for_function(seen).json_value() for page in pages]
        assert views[0] == views[1], views
        assert red in views[0], views
    finally:
        people.close()
    assert people.page_errors == [], people.page_errors
