"""What the browser tests do to and ask of the pages, and of the server beside them.

The editor page exposes ``window.collab`` (text, rev, state, unsent, synced, people) for
tests and for people poking at it in devtools; these helpers wait on it rather than sleep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import httpx
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.app.live import WAIT_SECONDS, LiveServer

WAIT_MS = WAIT_SECONDS * 1000  # generous: a loaded 2-core machine is slow, not broken
EDITOR = "#editor .cm-content"


def new_id() -> str:
    return f"doc-{uuid.uuid4().hex[:12]}"


# -- the server -----------------------------------------------------------------------------


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.http_url, trust_env=False, timeout=WAIT_SECONDS)


def create_document(server: LiveServer, text: str = "", title: str = "") -> str:
    doc_id = new_id()
    with api(server) as http:
        response = http.post(
            "/api/documents", json={"id": doc_id, "title": title or doc_id, "text": text}
        )
    assert response.status_code == 201, response.text
    return doc_id


def server_text(server: LiveServer, doc_id: str, rev: int | None = None) -> tuple[int, str]:
    with api(server) as http:
        response = http.get(
            f"/api/documents/{doc_id}/text", params={} if rev is None else {"rev": rev}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    return body["rev"], body["text"]


# -- the editor page ------------------------------------------------------------------------


def text_of(page: Page) -> str:
    text: str = page.evaluate("window.collab.text()")
    return text


def text_if_loaded(page: Page) -> str | None:
    """The editor's text, or None while the page (a navigation, say) has no editor yet."""
    try:
        text: str | None = page.evaluate("window.collab?.text?.() ?? null")
    except PlaywrightError:  # the page navigated while we asked
        return None
    return text


def synced(page: Page) -> bool:
    try:
        return bool(page.evaluate("window.collab?.synced?.() === true"))
    except PlaywrightError:  # the page navigated while we asked
        return False


def wait_synced(page: Page) -> None:
    page.wait_for_function("() => window.collab?.synced?.() === true", timeout=WAIT_MS)


def wait_text(page: Page, predicate: str, arg: object = None) -> None:
    """Wait until ``predicate`` (a JS function of the text and ``arg``) holds."""
    page.wait_for_function(
        f"([arg]) => {{ const text = window.collab?.text?.(); "
        f"return typeof text === 'string' && ({predicate})(text, arg); }}",
        arg=[arg],
        timeout=WAIT_MS,
    )


def converge(server: LiveServer, doc_id: str, pages: Sequence[Page]) -> str:
    """Wait until every page is synced and shows the server's text; that text."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        texts = [text_if_loaded(p) for p in pages]
        ready = all(synced(p) for p in pages)
        rev, on_server = server_text(server, doc_id)
        if ready and all(t == on_server for t in texts):
            return on_server
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no convergence in {WAIT_SECONDS}s: synced={[synced(p) for p in pages]}, "
                f"pages={texts!r}, server (rev {rev})={on_server!r}"
            )
        pages[0].wait_for_timeout(50)  # a polling interval, not an assertion


def caret_to_start(page: Page) -> None:
    page.locator(EDITOR).click()
    page.keyboard.press("Control+Home")


def caret_to_end(page: Page) -> None:
    page.locator(EDITOR).click()
    page.keyboard.press("Control+End")


def type_together(typists: Sequence[tuple[Page, str]], chunk: int = 2) -> None:
    """Everyone types their text at once: small chunks in turn, so each page has edits in
    flight while the others' arrive (the sync API cannot type in two pages in parallel)."""
    pieces = [
        (page, [text[i : i + chunk] for i in range(0, len(text), chunk)]) for page, text in typists
    ]
    for turn in range(max(len(p) for _, p in pieces)):
        for page, parts in pieces:
            if turn < len(parts):
                page.keyboard.type(parts[turn])


def words_once(text: str, words: Sequence[str]) -> None:
    for word in words:
        assert text.count(word) == 1, f"{word!r} appears {text.count(word)} times in {text!r}"


def in_order(text: str, words: Sequence[str]) -> None:
    positions = [text.find(word) for word in words]
    assert positions == sorted(positions), f"{words} are out of order in {text!r}"


def is_subsequence(part: str, whole: str) -> bool:
    """Every character of ``part`` is in ``whole``, in the same order (others between)."""
    rest = iter(whole)
    return all(char in rest for char in part)
