"""Linking an XMPP address on the account page, in real Chromium, against Prosody: the page
asks for a code, a plain XMPP client (slixmpp, nothing of the project's) sends it to the
server's address, and the page says "Linked" without a reload; a wrong code links nothing;
Unlink takes the address away; a code left unsent expires on the page. Without XMPP, the
page says the server cannot reach it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect
from slixmpp import JID, ClientXMPP, Message

from tests.app.live import LiveServer, external_xmpp, serving
from tests.browser.conftest import FRONTEND, People
from tests.xmpp_support import ProsodyForTests, prosody

__all__ = ["prosody"]  # the session's Prosody, a fixture

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

T = TypeVar("T")
ADMIN, ADMIN_PASSWORD = "root", "root password here"
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, prosody: ProsodyForTests
) -> Iterator[LiveServer]:
    """Accounts on, connected to the test Prosody, its administrator made through the API."""
    assert (FRONTEND / "account.html").is_file(), "run make frontend"
    settings = external_xmpp(prosody.service, f"xmpp-link-{secrets.token_hex(3)}")
    with serving(
        tmp_path_factory.mktemp("xmpp-link"), auth="on", idle_unload_seconds=0, **settings
    ) as live:
        set_up(live)
        yield live
    assert "Traceback" not in live.log(), live.log()


def set_up(live: LiveServer) -> None:
    with httpx.Client(base_url=live.http_url, trust_env=False) as http:
        made = http.post("/api/auth/setup", json={"name": ADMIN, "password": ADMIN_PASSWORD})
        assert made.status_code == 201, made.text


def make_account(live: LiveServer, name: str) -> tuple[str, str]:
    """A new account, made by the administrator: its unique name and its password."""
    unique, password = f"{name}-{secrets.token_hex(3)}", f"{name} password long"
    with httpx.Client(base_url=live.http_url, trust_env=False) as http:
        login = http.post("/api/auth/login", json={"name": ADMIN, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        made = http.post(
            "/api/users",
            json={"name": unique, "display_name": name.title(), "password": password},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert made.status_code == 201, made.text
    return unique, password


def account_page(people: People, name: str, password: str) -> Page:
    """``name``'s browser, signed in, on /account. Signed in through the API (the context's
    cookies are the page's): the sign-in page listens for its form only once the server has
    told it about accounts, so a quick click there can go unheard (it did, in one run of 4)."""
    context = people.context()
    login = context.request.post("/api/auth/login", data={"name": name, "password": password})
    assert login.status == 200, login.text()
    page = context.new_page()
    page.goto("/account")
    expect(page.locator("#account-name")).to_have_text(name)
    return page


class ChatClient:
    """A plain XMPP client (slixmpp, nothing of ours) on an event loop in a thread of its own,
    as Gajim would be: it sends chat messages and keeps every message it is sent."""

    def __init__(self, jid: str, password: str, host: str, port: int) -> None:
        self.jid = jid
        self.heard: list[tuple[str, str]] = []  # (bare JID it came from, body)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.xmpp: ClientXMPP = self._run(self._connect(password, host, port))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(TIMEOUT)

    async def _connect(self, password: str, host: str, port: int) -> ClientXMPP:
        xmpp = ClientXMPP(f"{self.jid}/gajim", password)
        xmpp.enable_starttls = False
        xmpp.enable_direct_tls = False
        xmpp.enable_plaintext = True
        xmpp.plugin["feature_mechanisms"].unencrypted_plain = True
        xmpp.add_event_handler("message", self._on_message)
        started = asyncio.get_running_loop().create_future()
        xmpp.add_event_handler("session_start", lambda _: started.set_result(True))
        xmpp.connect(host, port)
        await asyncio.wait_for(started, TIMEOUT)
        xmpp.send_presence()
        return xmpp

    def _on_message(self, message: Message) -> None:
        if message["type"] in ("chat", "normal") and message["body"]:
            self.heard.append((str(message["from"].bare), str(message["body"])))

    def send(self, to: str, body: str) -> None:
        self.loop.call_soon_threadsafe(
            lambda: self.xmpp.send_message(mto=JID(to), mbody=body, mtype="chat")
        )

    def answer_from(self, sender: str, after: int) -> str:
        """The first message from ``sender`` among those heard after the first ``after``."""
        _until(lambda: any(s == sender for s, _ in self.heard[after:]), f"an answer from {sender}")
        return next(body for s, body in self.heard[after:] if s == sender)

    def close(self) -> None:
        async def disconnect() -> None:
            await asyncio.wait_for(self.xmpp.disconnect(), 5)
            filters = self.xmpp._run_out_filters  # else cancelled by __del__ on a closed loop
            if filters is not None:
                filters.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await filters
                self.xmpp._run_out_filters = None

        self._run(disconnect())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait for what the XMPP client hears (Playwright's ``expect`` waits for the pages)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the XMPP client did not hear {what} in time")
        time.sleep(0.05)


def ask_for_code(page: Page) -> tuple[str, str]:
    """Press "Link an XMPP address" from the keyboard; the message and where to send it."""
    page.get_by_role("button", name="Link an XMPP address").focus()
    page.keyboard.press("Enter")
    message_box = page.get_by_label("Message to send")
    expect(message_box).to_be_visible()
    expect(message_box).not_to_have_value("")
    expect(page.locator("#xmpp-countdown")).to_contain_text("left")
    return message_box.input_value(), page.locator("#xmpp-send-to").inner_text()


def test_linking_an_xmpp_address_by_sending_the_code_then_unlinking(
    server: LiveServer, people: People, prosody: ProsodyForTests
) -> None:
    name, password = make_account(server, "ann")
    page = account_page(people, name, password)
    address = page.locator("#xmpp-jid")
    status = page.locator("#xmpp-status")
    expect(address).to_have_text("none")
    expect(page.get_by_role("button", name="Unlink")).to_be_hidden()

    message, send_to = ask_for_code(page)
    assert message.startswith("link "), message
    assert send_to == prosody.service.jid, (send_to, prosody.service.jid)
    expect(page.locator("#xmpp-within")).to_have_text("10 minutes")
    expect(page.locator("#xmpp-open")).to_have_attribute(
        "href", f"xmpp:{send_to}?message;body={message.replace(' ', '%20')}"
    )

    account = prosody.account("gajim")
    gajim = ChatClient(account.jid, account.password, account.host, account.port)
    try:
        # A wrong code links nothing, and the sender is told so; the page keeps waiting.
        gajim.send(send_to, "link ZZZZZZZZZZ")
        refused = gajim.answer_from(send_to, 0)
        assert "code" in refused and "Linked" not in refused, refused
        page.wait_for_timeout(2500)  # a poll of the page's, at least
        expect(address).to_have_text("none")
        expect(status).to_contain_text("Waiting for")

        # The right one links the sender's bare JID; the page says so without a reload.
        heard = len(gajim.heard)
        gajim.send(send_to, message)
        expect(status).to_have_text(f"Linked: {account.jid}")
        expect(address).to_have_text(account.jid)
        expect(page.get_by_label("Message to send")).to_be_hidden()
        linked = gajim.answer_from(send_to, heard)
        assert account.jid in linked and linked != refused, (linked, refused)
    finally:
        gajim.close()

    # Unlink, after saying yes to the browser's question.
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="Unlink").click()
    expect(address).to_have_text("none")
    expect(status).to_have_text(f"Unlinked {account.jid}.")
    expect(page.get_by_role("button", name="Unlink")).to_be_hidden()
    assert questions and account.jid in questions[0], questions

    # A code nobody sends: once it has expired the page says so, and offers a new one. The
    # page's clock is Playwright's, moved on ten minutes.
    page.clock.install()
    page.reload()
    expect(page.locator("#xmpp-jid")).to_have_text("none")
    ask_for_code(page)
    page.get_by_role("button", name="Copy").click()
    expect(status).to_contain_text(re.compile(r"Message copied|Press Ctrl\+C"))
    page.clock.fast_forward("10:01")
    expect(status).to_contain_text("The code has expired")
    expect(page.get_by_label("Message to send")).to_be_hidden()
    expect(page.get_by_role("button", name="Get a new code")).to_be_visible()


def test_without_xmpp_the_page_says_the_server_cannot_reach_it(
    browser: Browser, tmp_path: Path
) -> None:
    with serving(tmp_path / "no-xmpp", auth="on", idle_unload_seconds=0) as alone:
        set_up(alone)
        people = People(browser, alone)
        try:
            page = account_page(people, *make_account(alone, "bob"))
            page.get_by_role("button", name="Link an XMPP address").click()
            expect(page.locator("#xmpp-status")).to_have_text(
                "The server cannot reach XMPP right now; try again later."
            )
            expect(page.locator("#xmpp-steps")).to_be_hidden()
        finally:
            people.close()
    assert people.page_errors == [], people.page_errors
    assert people.violations == [], people.violations
    assert "Traceback" not in alone.log(), alone.log()
