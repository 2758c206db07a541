"""Fixtures for the real-browser tests: one headless Chromium, a live server, named people.

The browser is Debian's Chromium (``/usr/bin/chromium``, or ``COLLAB_CHROMIUM``) driven by
Playwright's sync API: Playwright's own browser download is not available everywhere we run.
One browser serves the whole package; every test gets fresh contexts (fresh storage, cookies
and network state), and every module its own server and data dir.

Every page a test opens reports uncaught exceptions and Content-Security-Policy violations;
a test that caused any fails in teardown, whatever it asserted itself.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.app.live import LiveServer, serving
from tests.browser.helpers import WAIT_MS, wait_synced

expect.set_options(timeout=WAIT_MS)

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend" / "dist"

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-sync",
    # Two pages typing at once must both run at full speed, hidden or not.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

# Reports every CSP violation to the test (through a binding, so none is lost when the page
# navigates); the array is there for looking at a page in devtools.
REPORT_VIOLATIONS = """
window.__cspViolations = [];
window.addEventListener("securitypolicyviolation", (event) => {
  const target = event.target instanceof Element
    ? `<${event.target.localName} class="${event.target.className}">` : String(event.target);
  const what = `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` (${event.sample || "no sample"}) on ${target} at ${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(what);
  window.__reportViolation?.(what);
}, true);
"""

# What a person typed into #name-input (and the color picked for them) on an earlier visit.
# about:blank, where every page starts, has no storage.
REMEMBER = "if (location.protocol === 'http:') localStorage.setItem(%s, %s);"


def chromium_path() -> str:
    return os.environ.get("COLLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for every browser test; closed before the rest of the suite goes on."""
    executable = chromium_path()
    if not Path(executable).is_file():
        pytest.fail(
            f"no Chromium at {executable}: run `make system-deps` (apt-get install chromium) "
            "or set COLLAB_CHROMIUM to a Chromium binary"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not (FRONTEND / "editor.html").is_file():
        pytest.fail(
            f"the web pages are not built ({FRONTEND / 'editor.html'} is missing): "
            "run make frontend (or: cd frontend && npm ci && node build.mjs)"
        )
    with serving(tmp_path_factory.mktemp("browser"), idle_unload_seconds=0) as live:
        yield live
    assert "Traceback" not in live.log(), live.log()


class People:
    """Browser contexts for a test: one per person, each with its own storage."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[BrowserContext] = []
        self.page_errors: list[str] = []
        self.violations: list[str] = []
        self.console_errors: list[str] = []

    def context(
        self,
        name: str | None = None,
        *,
        color: str | None = None,
        width: int = 1200,
        height: int = 700,
    ) -> BrowserContext:
        context = self.browser.new_context(
            base_url=self.server.http_url, viewport={"width": width, "height": height}
        )
        context.set_default_timeout(WAIT_MS)
        context.expose_function("__reportViolation", self._violation)
        context.add_init_script(REPORT_VIOLATIONS)
        for key, value in [("collab.name", name), ("collab.color", color)]:
            if value is not None:
                context.add_init_script(REMEMBER % (json.dumps(key), json.dumps(value)))
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def _violation(self, what: str) -> None:
        self.violations.append(what)

    def _watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(f"{page.url}: {message.text}")
                if message.type == "error"
                else None
            ),
        )

    def page(self, path: str = "/", name: str | None = None, **options: int) -> Page:
        """A new person (or nobody in particular) on ``path``."""
        page = self.context(name, **options).new_page()
        page.goto(path)
        return page

    def editor(self, doc_id: str, name: str, *, color: str | None = None, **options: int) -> Page:
        """``name`` with the document open, connected and caught up."""
        page = self.context(name, color=color, **options).new_page()
        page.goto(f"/d/{doc_id}")
        wait_synced(page)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    def describe(self) -> str:
        """Where each page was and what it showed: printed when a test fails, since a
        failure in CI leaves only its output behind."""
        lines = []
        for number, context in enumerate(self.contexts):
            for page in context.pages:
                try:
                    shown = page.evaluate(
                        "() => [document.title, (document.body?.innerText ?? '').slice(0, 300),"
                        " String(window.collab?.synced?.()), window.collab?.text?.() ?? null]"
                    )
                except Exception as exc:  # a page that crashed or navigated away meanwhile
                    shown = [f"(could not be read: {exc})"]
                lines.append(f"person {number}, {page.url}: {json.dumps(shown)[:800]}")
        lines += [f"console error: {error}" for error in self.console_errors]
        return "\n".join(lines)


FAILED_CALL = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        item.stash[FAILED_CALL] = True


@pytest.fixture
def people(
    browser: Browser, server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[People]:
    crowd = People(browser, server)
    try:
        yield crowd
    finally:
        if request.node.stash.get(FAILED_CALL, False):
            print(f"The pages when the test failed:\n{crowd.describe()}")
        crowd.close()
    assert crowd.page_errors == [], f"uncaught errors in the pages: {crowd.page_errors}"
    assert crowd.violations == [], f"Content-Security-Policy violations: {crowd.violations}"
