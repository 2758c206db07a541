"""The page tells its user when its server cannot reach the others: with the server's XMPP
server (its managed Prosody) killed, a banner says so within seconds while typing goes on,
and it goes away once Prosody is back."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from app.buses.xmpp.prosody import free_port
from tests.app.buses.xmpp.test_supervision import prosody_pid
from tests.app.live import LiveServer
from tests.browser.conftest import People
from tests.browser.helpers import EDITOR, create_document, server_text, wait_synced
from tests.xmpp_support import needs_prosody

pytestmark = [pytest.mark.browser, needs_prosody, pytest.mark.timeout(120)]


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path / "data",
        xmpp_mode="managed",
        xmpp_managed_port=free_port(),
        xmpp_restart_delay=5.0,  # long enough to see the banner and type under it
        idle_unload_seconds=0,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_banner_shows_while_the_server_is_cut_off(browser: Browser, managed: LiveServer) -> None:
    doc_id = create_document(managed, "hello")
    people = People(browser, managed)
    try:
        page = people.editor(doc_id, "Ann")
        banner = page.locator("#bus-banner")
        expect(banner).to_be_hidden()

        os.kill(prosody_pid(managed.data_dir), signal.SIGKILL)
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("cannot reach the other servers")
        expect(banner).to_contain_text("Your edits are saved")

        page.locator(EDITOR).click()
        page.keyboard.press("Control+End")
        page.keyboard.type(" world")
        wait_synced(page)
        assert server_text(managed, doc_id)[1] == "hello world"

        expect(banner).to_be_hidden(timeout=30_000)  # Prosody restarted, the bridge back
    finally:
        people.close()
