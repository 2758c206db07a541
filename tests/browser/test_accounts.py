"""Accounts and sharing in a real browser: the first administrator, signing in, sharing a
document with a second person who edits it, a viewer's read-only page, an edit link opened in
a fresh context, and revocation closing an open editor."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.app.live import LiveServer, serving
from tests.browser.conftest import FRONTEND, People
from tests.browser.helpers import EDITOR, WAIT_MS, caret_to_end, new_id, wait_synced, wait_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ADMIN, ADMIN_PASSWORD = "root", "root password here"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with accounts on, its administrator made through the API."""
    assert (FRONTEND / "login.html").is_file(), "run make frontend"
    with serving(tmp_path_factory.mktemp("accounts"), auth="on", idle_unload_seconds=0) as live:
        with httpx.Client(base_url=live.http_url, trust_env=False) as http:
            made = http.post("/api/auth/setup", json={"name": ADMIN, "password": ADMIN_PASSWORD})
            assert made.status_code == 201, made.text
        yield live
    assert "Traceback" not in live.log(), live.log()


class Api:
    """One account's REST client: a token of its own, no cookies."""

    def __init__(self, server: LiveServer, name: str, password: str) -> None:
        with httpx.Client(base_url=server.http_url, trust_env=False) as http:
            login = http.post("/api/auth/login", json={"name": name, "password": password})
            assert login.status_code == 200, login.text
            made = http.post(
                "/api/auth/tokens",
                json={"name": "browser tests"},
                headers={"X-CSRF-Token": login.json()["csrf_token"]},
            )
            assert made.status_code == 201, made.text
        self.base = server.http_url
        self.headers = {"Authorization": f"Bearer {made.json()['token']}"}

    def call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        with httpx.Client(base_url=self.base, trust_env=False, headers=self.headers) as http:
            return http.request(method, path, **kwargs)  # type: ignore[arg-type]

    def text(self, doc_id: str) -> str:
        response = self.call("GET", f"/api/documents/{doc_id}/text")
        assert response.status_code == 200, response.text
        text: str = response.json()["text"]
        return text

    def last_author(self, doc_id: str) -> str:
        response = self.call("GET", f"/api/documents/{doc_id}/revisions")
        author: str = response.json()["items"][0]["author"]
        return author


def make_account(server: LiveServer, name: str) -> tuple[str, str]:
    """A new account (made by the administrator); its unique name and its password."""
    unique = f"{name}-{secrets.token_hex(3)}"
    password = f"{name} password long"
    admin = Api(server, ADMIN, ADMIN_PASSWORD)
    made = admin.call(
        "POST",
        "/api/users",
        json={"name": unique, "display_name": name.title(), "password": password},
    )
    assert made.status_code == 201, made.text
    return unique, password


def sign_in(
    people: People, name: str, password: str, path: str = "/"
) -> tuple[BrowserContext, Page]:
    """A browser of ``name``'s, signed in through the sign-in page, on ``path``."""
    context = people.context()
    page = context.new_page()
    page.goto(path)
    expect(page).to_have_url(f"{people.server.http_url}/login?next={path.replace('/', '%2F')}")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#submit")
    page.wait_for_url(f"{people.server.http_url}{path}")
    return context, page


def owned_document(server: LiveServer, owner: tuple[str, str], text: str) -> tuple[str, Api]:
    api = Api(server, *owner)
    doc_id = new_id()
    made = api.call("POST", "/api/documents", json={"id": doc_id, "title": doc_id, "text": text})
    assert made.status_code == 201, made.text
    return doc_id, api


def share_with(page: Page, doc_id: str, name: str, role: str) -> None:
    page.goto(f"/d/{doc_id}/share")
    page.fill("#share-name", name)
    page.select_option("#share-role", role)
    page.click("#share-form button[type=submit]")
    expect(page.locator(f'#people li[data-name="{name}"]')).to_be_visible()


def test_first_visit_makes_the_administrator_then_signs_in(people: People, tmp_path: Path) -> None:
    with serving(tmp_path / "fresh", auth="on") as fresh:
        people.server = fresh
        page = people.page("/")
        expect(page).to_have_url(f"{fresh.http_url}/setup")
        expect(page.locator("#heading")).to_have_text("Welcome: make the administrator")
        page.fill("#name", "boss")
        page.fill("#display-name", "The Boss")
        page.fill("#password", "the boss password")
        page.click("#submit")
        page.wait_for_url(f"{fresh.http_url}/")
        expect(page.locator("h1")).to_have_text("Documents")
        page.goto("/account")
        expect(page.locator("#who")).to_have_text("The Boss")
        expect(page.locator("#admin")).to_be_visible()
        # A second browser of the boss's, signed out with every other session.
        elsewhere = people.context().new_page()
        elsewhere.goto("/login")
        elsewhere.fill("#name", "boss")
        elsewhere.fill("#password", "the boss password")
        elsewhere.click("#submit")
        elsewhere.wait_for_url(f"{fresh.http_url}/")
        page.click("#logout-everywhere")
        page.wait_for_url(f"{fresh.http_url}/login")
        elsewhere.goto("/account")
        expect(elsewhere).to_have_url(f"{fresh.http_url}/login?next=%2Faccount")
        # Someone else, later: the sign-in page, not the setup.
        other = people.page("/")
        expect(other).to_have_url(f"{fresh.http_url}/login?next=%2F")
        other.fill("#name", "boss")
        other.fill("#password", "wrong password")
        other.click("#submit")
        expect(other.locator("#message")).to_contain_text("wrong name or password")
        other.fill("#password", "the boss password")
        other.click("#submit")
        other.wait_for_url(f"{fresh.http_url}/")


def test_sharing_with_a_second_person_who_edits(server: LiveServer, people: People) -> None:
    ann, bob = make_account(server, "ann"), make_account(server, "bob")
    doc_id, ann_api = owned_document(server, ann, "Plan:")
    _, ann_page = sign_in(people, *ann)
    # Bob cannot open it before it is shared.
    _, bob_page = sign_in(people, *bob)
    refused = bob_page.goto(f"/d/{doc_id}")
    assert refused is not None and refused.status == 403
    expect(bob_page.locator("body")).to_contain_text("You have no access to this document")

    share_with(ann_page, doc_id, bob[0], "editor")
    bob_page.goto(f"/d/{doc_id}")
    wait_synced(bob_page)
    ann_page.goto(f"/d/{doc_id}")
    wait_synced(ann_page)
    caret_to_end(bob_page)
    bob_page.keyboard.insert_text(" from Bob")
    wait_text(ann_page, "(t) => t.endsWith(' from Bob')")
    page_text = ann_page.evaluate("window.collab.text()")
    assert page_text == "Plan: from Bob"
    assert ann_api.last_author(doc_id) == bob[0]  # his account, whatever name his page shows


def held(page: Page, pattern: str) -> list[Route]:
    """The next request of ``page`` to ``pattern``, held unanswered until the test lets it go
    (``route.continue_()``): a slow network, on cue."""
    waiting: list[Route] = []

    def hold(route: Route) -> None:
        waiting.append(route)

    page.route(pattern, hold, times=1)
    return waiting


def test_the_share_form_appears_once_the_page_can_take_it(
    server: LiveServer, people: People
) -> None:
    # Submitted before the page's script had taken it over, the form reloaded the page and
    # what was typed was lost (seen in CI: the test typed and clicked while the page still
    # read the document).
    ann = make_account(server, "ann")
    doc_id, _ = owned_document(server, ann, "x")
    _, page = sign_in(people, *ann)
    waiting = held(page, f"**/api/documents/{doc_id}")
    page.goto(f"/d/{doc_id}/share")
    expect(page.locator("#doc-title")).to_be_attached()
    page.wait_for_timeout(300)  # the script runs, and waits for the document
    expect(page.locator("#share-form")).to_be_hidden()
    assert len(waiting) == 1
    waiting[0].continue_()
    expect(page.locator("#share-form")).to_be_visible()


def test_the_account_page_takes_a_form_before_it_has_loaded(
    server: LiveServer, people: People
) -> None:
    ann = make_account(server, "ann")
    _, page = sign_in(people, *ann, path="/account")
    waiting = held(page, "**/api/auth/me")
    page.reload()
    page.wait_for_timeout(300)  # the script runs, and waits for the account
    assert len(waiting) == 1
    page.fill("#token-name", "early")
    page.click("#token-form button[type=submit]")
    expect(page.locator("#new-token-value")).not_to_be_empty()
    assert page.url == f"{server.http_url}/account"  # not reloaded by a native submission
    waiting[0].continue_()
    expect(page.locator("#account-name")).to_have_text(ann[0])


def test_a_viewer_sees_a_read_only_page(server: LiveServer, people: People) -> None:
    ann, cat = make_account(server, "ann"), make_account(server, "cat")
    doc_id, ann_api = owned_document(server, ann, "Only to read")
    _, ann_page = sign_in(people, *ann)
    share_with(ann_page, doc_id, cat[0], "viewer")
    _, cat_page = sign_in(people, *cat, path=f"/d/{doc_id}")
    wait_synced(cat_page)
    expect(cat_page.locator("#read-only")).to_be_visible()
    expect(cat_page.locator(EDITOR)).to_have_attribute("contenteditable", "false")
    cat_page.locator(EDITOR).click()
    cat_page.keyboard.type("typed anyway")
    cat_page.wait_for_timeout(300)  # time for an edit to reach the server, were one sent
    assert ann_api.text(doc_id) == "Only to read"
    assert cat_page.evaluate("window.collab.text()") == "Only to read"


def test_an_edit_link_in_a_fresh_context_makes_a_guest_editor(
    server: LiveServer, people: People
) -> None:
    ann = make_account(server, "ann")
    doc_id, ann_api = owned_document(server, ann, "Open to the link")
    _, ann_page = sign_in(people, *ann, path=f"/d/{doc_id}/share")
    ann_page.click('#links li[data-role="editor"] .make-link')
    link = ann_page.locator("#new-link-value")
    expect(link).to_contain_text("?key=")
    url = link.inner_text()

    guest = people.context("Gus").new_page()
    guest.goto(url)
    guest.wait_for_url(f"{server.http_url}/d/{doc_id}")  # the secret left the address
    wait_synced(guest)
    caret_to_end(guest)
    guest.keyboard.insert_text("!")
    guest.wait_for_function("() => window.collab.synced()", timeout=WAIT_MS)
    for _ in range(100):
        if ann_api.text(doc_id) == "Open to the link!":
            break
        guest.wait_for_timeout(50)
    assert ann_api.text(doc_id) == "Open to the link!"
    assert ann_api.last_author(doc_id) == "Gus (guest)"


def test_revoking_access_closes_an_open_editor(server: LiveServer, people: People) -> None:
    ann, dan = make_account(server, "ann"), make_account(server, "dan")
    doc_id, _ = owned_document(server, ann, "Shared for now")
    _, ann_page = sign_in(people, *ann)
    share_with(ann_page, doc_id, dan[0], "editor")
    _, dan_page = sign_in(people, *dan, path=f"/d/{doc_id}")
    wait_synced(dan_page)

    ann_page.goto(f"/d/{doc_id}/share")
    ann_page.click(f'#people li[data-name="{dan[0]}"] button')
    expect(ann_page.locator(f'#people li[data-name="{dan[0]}"]')).to_have_count(0)
    expect(dan_page.locator("#message")).to_contain_text(
        "access to this document was revoked", timeout=5000
    )
    expect(dan_page.locator("#status")).to_have_attribute("data-state", "closed")


def test_the_sign_in_form_cannot_be_sent_before_the_page_is_ready(
    server: LiveServer, people: People
) -> None:
    """Until its script has taken the form over, Enter must not send it the browser's way
    (the password in a request to the server): the button stays disabled until then."""
    name, password = make_account(server, f"early-{secrets.token_hex(2)}")
    context = people.context()
    page = context.new_page()
    held: list[Any] = []
    # Hold the page's first question to the server, so that its script is still waiting.
    page.route("**/api/auth/state", lambda route: held.append(route))
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", password)
    expect(page.locator("#submit")).to_be_disabled()
    page.locator("#password").press("Enter")
    page.wait_for_timeout(300)  # time for a navigation to start, if one would
    assert page.url == f"{server.http_url}/login"
    assert not any(password in url for url in sent), sent
    assert not any(entry.startswith("POST") or "?name=" in entry for entry in sent), sent

    # Let it go: the form is the script's now, and signs in.
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/api/auth/state")
    expect(page.locator("#submit")).to_be_enabled()
    page.fill("#password", password)
    page.locator("#password").press("Enter")
    page.wait_for_url(f"{server.http_url}/")
