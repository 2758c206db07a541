"""The chat beside the document, in real Chromium, on Prosody and on ejabberd: two pages and a
plain XMPP client (slixmpp with no project code) in the document's room see each other's lines,
each under its writer's name.

With ``COLLAB_SCREENSHOTS=1`` it writes ``docs/screenshots/chat.png``::

    COLLAB_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_chat.py -k prosody
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.app.live import LiveServer, external_xmpp, serving
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, create_document, wait_synced
from tests.xmpp_occupant import OccupantThread
from tests.xmpp_support import XmppServerForTests, ejabberd, prosody, xmpp_server

__all__ = ["ejabberd", "prosody", "xmpp_server"]  # the session's XMPP servers, fixtures

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "chat.png"


@pytest.fixture
def live(tmp_path: Path, xmpp_server: XmppServerForTests) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path / "app",
        **external_xmpp(xmpp_server.service, f"chat-page-{secrets.token_hex(3)}"),
        idle_unload_seconds=0,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def say(page: Page, text: str) -> None:
    box = page.locator("#chat-input")
    box.click()
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def line(page: Page, name: str, text: str) -> None:
    """``page`` shows ``text`` as written by ``name``."""
    expect(
        page.locator(".chat-line", has=page.locator(".chat-name", has_text=name)).filter(
            has_text=text
        )
    ).to_have_count(1)


def test_two_pages_and_an_xmpp_client_chat_in_the_documents_room(
    browser: Browser, live: LiveServer, xmpp_server: XmppServerForTests, tmp_path: Path
) -> None:
    domain = xmpp_server.service.jid.split("@", 1)[1]
    doc_id = create_document(live, "Agenda\n- budget\n- hiring\n", title="Agenda")
    room = f"doc-{doc_id}@conference.{domain}"
    people = People(browser, live)
    gajim = OccupantThread(xmpp_server.account("gajim"))
    try:
        ann = people.editor(doc_id, "Ann", color="#e6194b")
        bob = people.editor(doc_id, "Bob", color="#4363d8", width=390, height=844)  # a phone

        # Ann writes first; Bob's page shows it, and so does the room's history.
        say(ann, "Shall we start with the budget?")
        line(bob, "Ann", "Shall we start with the budget?")
        line(ann, "Ann", "Shall we start with the budget?")

        # With accounts off the room is open: any XMPP client may join it.
        assert gajim.join(room, "Gus") == ""
        _until(lambda: "Ann: Shall we start with the budget?" in gajim.bodies())

        # The XMPP client speaks: both pages show it under its nick, marked as from XMPP.
        gajim.say(room, "Yes, I have the numbers <ready> & waiting")
        for page in (ann, bob):
            line(page, "Gus", "Yes, I have the numbers <ready> & waiting")
        expect(bob.locator(".chat-line[data-source='xmpp'] .chat-via").first).to_have_text("XMPP")

        # Bob answers from the phone: Ann and the XMPP client get it, named.
        say(bob, "Great, go ahead.\nThen hiring.")
        line(ann, "Bob", "Then hiring.")
        _until(lambda: "Bob: Great, go ahead.\nThen hiring." in gajim.bodies())

        # A page opened later gets the recent lines at once (chat-history).
        carol = people.editor(doc_id, "Carol")
        for text in ("Shall we start", "numbers <ready>", "Then hiring."):
            expect(carol.locator("#chat-log")).to_contain_text(text)

        # Keyboard only: Tab goes from the text to the chat box (the editor binds no Tab),
        # and Enter sends.
        ann.locator(EDITOR).click()
        for _ in range(12):
            ann.keyboard.press("Tab")
            if ann.evaluate("document.activeElement.id") == "chat-input":
                break
        assert ann.evaluate("document.activeElement.id") == "chat-input"
        ann.keyboard.type("Typed without a mouse")
        ann.keyboard.press("Enter")
        line(bob, "Ann", "Typed without a mouse")
        wait_synced(ann)

        # Dark mode, for the screenshot.
        ann.locator("#theme-select").select_option("dark")
        path = SCREENSHOT if os.environ.get("COLLAB_SCREENSHOTS") == "1" else tmp_path / "chat.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        ann.screenshot(path=str(path))
        assert path.read_bytes().startswith(b"\x89PNG")
    finally:
        gajim.close()
        people.close()
    assert people.page_errors == [], people.page_errors
    assert people.violations == [], people.violations


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for what the XMPP client hears (Playwright's ``expect`` waits for the pages)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the XMPP client did not hear it in time")
        time.sleep(0.05)


@pytest.fixture
def alone(tmp_path: Path) -> Iterator[LiveServer]:
    """One instance, no XMPP: the pages' chat goes through it alone."""
    with serving(tmp_path / "alone", idle_unload_seconds=0) as server:
        yield server
    assert "Traceback" not in server.log(), server.log()


HIDE = """hidden => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_lines_that_come_unseen_are_counted_until_they_are_seen(
    browser: Browser, alone: LiveServer
) -> None:
    doc_id = create_document(alone, "Notes\n", title="Notes")
    people = People(browser, alone)
    try:
        ann = people.editor(doc_id, "Ann")
        bob = people.editor(doc_id, "Bob")
        more = bob.locator("#chat-more")
        log = bob.locator("#chat-log")
        at_end = "log => log.scrollHeight - log.scrollTop - log.clientHeight < 24"

        # Taller than the log: Bob's page follows it to its end, nothing is unread.
        say(ann, "\n".join(f"point {n}" for n in range(30)))
        line(bob, "Ann", "point 29")
        assert log.evaluate(at_end)
        expect(more).to_be_hidden()

        # Bob scrolls up to read; two lines come below: a button says so, and takes him down.
        log.evaluate("log => { log.scrollTop = 0; }")
        say(ann, "below the fold")
        say(ann, "and another")
        expect(more).to_have_text("2 new messages ↓")
        assert not log.evaluate(at_end)
        more.click()
        expect(more).to_be_hidden()
        assert log.evaluate(at_end)

        # Bob's tab is hidden: the lines that come meanwhile are counted in its title, and
        # the count goes once the tab is shown again.
        expect(bob).to_have_title("Notes · XMPP Collab")
        bob.evaluate(HIDE, True)
        say(ann, "while you were away")
        expect(bob).to_have_title("(1) Notes · XMPP Collab")
        say(ann, "still away?")
        expect(bob).to_have_title("(2) Notes · XMPP Collab")
        expect(ann).to_have_title("Notes · XMPP Collab")  # the writer's own tab is shown
        bob.evaluate(HIDE, False)
        expect(bob).to_have_title("Notes · XMPP Collab")
        expect(more).to_be_hidden()  # he was at the end: those lines were not below
    finally:
        people.close()
    assert people.page_errors == [], people.page_errors
    assert people.violations == [], people.violations
