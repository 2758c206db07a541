"""The web page: serves the built front end (``frontend/dist``) with strict security headers.

The pages are static files; everything a page shows comes from the REST API and the
WebSocket, and is put into the page as text, never as HTML. The Content-Security-Policy
below is the second line of defence: even if some text were ever parsed as markup, no
script but our own bundle could run, and no page could be framed or post elsewhere.
"""

from __future__ import annotations

import re
import secrets
import stat
from mimetypes import guess_type
from pathlib import Path
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Message, Receive, Scope, Send

from app.core.access import ANONYMOUS
from app.core.accounts import digest
from app.core.errors import Refused
from app.core.identity import CSRF_COOKIE, LINKS_COOKIE, MAX_LINKS_KEPT, Identity, cookies
from app.http.compression import accepts
from app.http.errors import error_page
from app.schemas import DOC_ID_PATTERN

# The placeholder in the pages' HTML that becomes this response's style nonce.
NONCE_PLACEHOLDER = "__CSP_NONCE__"


def content_security_policy(style_nonce: str | None = None) -> str:
    """The policy; a page load passes its style nonce. Styles need one: CodeMirror adds its
    own stylesheet as a <style> element at run time, with the nonce it finds in the page."""
    style_src = "'self'" if style_nonce is None else f"'self' 'nonce-{style_nonce}'"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            f"style-src {style_src}",
            "img-src 'self' data:",
            "font-src 'self'",
            # 'self' covers ws:// and wss:// to the same host and port in CSP 3 browsers.
            "connect-src 'self'",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

NOT_BUILT = """The web page has not been built.

Build it with:  make frontend        (or: cd frontend && npm ci && node build.mjs)
`make run` builds it for you. Looked for it in: {path}
The REST API (/api, /docs) and the WebSocket (/ws) work without it.
"""


def default_frontend_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "frontend" / "dist"


# esbuild's "[name]-[hash]" file names (frontend/build.mjs): eight base32 characters before
# the first extension, so "editor-5KX2Q7ZD.js" and its "editor-5KX2Q7ZD.js.map" both match.
HASHED_NAME = re.compile(r"^[\w.-]+-[A-Z2-7]{8}(\.[a-z0-9]+)+$")

IMMUTABLE = "public, max-age=31536000, immutable"

# What the build precompressed each asset into, best first (frontend/build.mjs writes them).
PRECOMPRESSED = (("br", ".br"), ("gzip", ".gz"))


def cache_control(path: str) -> str:
    """A hashed name changes whenever its content does, so a browser may keep it for a year;
    anything else (the favicon, the vendored API docs) is revalidated on every load, so an
    old copy never talks to a newer server."""
    return IMMUTABLE if HASHED_NAME.match(path.rsplit("/", 1)[-1]) else "no-cache"


class _SecuredStaticFiles(StaticFiles):
    """Static assets with the same headers as the pages, cached according to their names,
    and sent as the build's precompressed copy when the browser accepts it."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] in ("GET", "HEAD") and not path.endswith((".br", ".gz")):
            offered = Headers(scope=scope).get("accept-encoding", "")
            for coding, suffix in PRECOMPRESSED:
                if not accepts(offered, coding):
                    continue
                full_path, found = await anyio.to_thread.run_sync(self.lookup_path, path + suffix)
                if found is None or not stat.S_ISREG(found.st_mode):
                    continue
                # The copy's own ETag (its size and time differ from the original's), so a
                # cache never answers a gzip request with the brotli bytes' validator.
                response = FileResponse(
                    full_path,
                    stat_result=found,
                    media_type=guess_type(path)[0] or "text/plain",  # as FileResponse guesses
                    headers={"Content-Encoding": coding},
                )
                if self.is_not_modified(response.headers, Headers(scope=scope)):
                    return NotModifiedResponse(response.headers)
                return response
        return await super().get_response(path, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self.get_path(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                for name, value in SECURITY_HEADERS.items():
                    headers.append(name, value)
                # Never a year for a 404: the file may appear with the next deployment.
                found = message["status"] in (200, 206, 304)
                headers["Cache-Control"] = cache_control(path) if found else "no-cache"
                # The same address answers with different bytes by Accept-Encoding.
                headers.add_vary_header("Accept-Encoding")
                message = {**message, "headers": headers.raw}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def install(app: FastAPI, frontend_dir: Path) -> None:
    """Serve the pages at ``/``, ``/d/{doc_id}``, ``/d/{doc_id}/history`` and
    ``/d/{doc_id}/share``, and the account pages ``/login``, ``/setup`` and ``/account``.

    With accounts on, a page that needs someone signed in sends the browser to ``/login``
    (or, on a fresh installation, ``/setup``) and back. A share link, ``/d/{id}?key=...``,
    is kept in an HttpOnly cookie and the browser sent on to ``/d/{id}``, so the secret
    leaves the address bar (and the history, and any Referer) at once.
    """
    router = APIRouter(include_in_schema=False)

    def page(name: str) -> Response:
        path = frontend_dir / f"{name}.html"
        try:
            html = path.read_text(encoding="utf-8")  # small, and the OS caches it
        except FileNotFoundError:
            return PlainTextResponse(
                NOT_BUILT.format(path=frontend_dir), status_code=503, headers=SECURITY_HEADERS
            )
        nonce = secrets.token_urlsafe(18)
        headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": content_security_policy(nonce),
            # A page carries a fresh nonce every time: never serve one from a cache.
            "Cache-Control": "no-store",
        }
        return HTMLResponse(html.replace(NONCE_PLACEHOLDER, nonce), headers=headers)

    @router.get("/")
    async def documents_page(request: Request) -> Response:
        return await _signed_in(request) or page("documents")

    @router.get("/d/{doc_id}")
    async def editor_page(doc_id: str, request: Request) -> Response:
        if not _valid_id(doc_id):
            return _not_found()
        key = request.query_params.get("key")
        if key is not None:
            return await _keep_link(request, doc_id, key)
        return await _signed_in(request, doc_id) or page("editor")

    @router.get("/d/{doc_id}/history")
    async def history_page(doc_id: str, request: Request) -> Response:
        if not _valid_id(doc_id):
            return _not_found()
        return await _signed_in(request, doc_id) or page("history")

    @router.get("/d/{doc_id}/share")
    async def share_page(doc_id: str, request: Request) -> Response:
        if not _valid_id(doc_id):
            return _not_found()
        return await _signed_in(request, doc_id) or page("share")

    @router.get("/login")
    async def login_page() -> Response:
        return page("login")

    @router.get("/setup")
    async def setup_page() -> Response:
        return page("login")

    @router.get("/account")
    async def account_page(request: Request) -> Response:
        return await _signed_in(request) or page("account")

    @router.get("/d/{doc_id}/")
    async def editor_slash(doc_id: str, request: Request) -> Response:
        return RedirectResponse(request.url.path.rstrip("/"), status_code=308)

    app.include_router(router)
    app.mount("/assets", _AssetsOrHint(frontend_dir / "assets"), name="assets")


class _AssetsOrHint:
    """``/assets`` before the first build answers 503 with the hint, not a 500 at startup."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: _SecuredStaticFiles | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._files is None:
            if not self.directory.is_dir():
                response = PlainTextResponse(
                    NOT_BUILT.format(path=self.directory.parent),
                    status_code=503,
                    headers=SECURITY_HEADERS,
                )
                await response(scope, receive, send)
                return
            self._files = _SecuredStaticFiles(directory=self.directory)
        await self._files(scope, receive, send)


async def _signed_in(request: Request, doc_id: str | None = None) -> Response | None:
    """None if the page may be shown; else where to go first (sign in, or set up)."""
    identity: Identity | None = getattr(request.app.state, "identity", None)
    if identity is None or not identity.access.enabled:
        return None
    client = request.client.host if request.client else None
    try:
        principal = await identity.resolve(dict(request.headers.items()), client)
    except Refused:
        principal = ANONYMOUS
    if doc_id is None and principal.signed_in:
        return None
    if doc_id is not None and await identity.access.role_on(principal, doc_id) is not None:
        return None  # shared with them, a link of theirs, or open to visitors (legacy)
    if principal.signed_in:
        # Said here rather than by a socket that keeps failing: a browser never learns why
        # a WebSocket handshake was refused.
        return error_page(
            403,
            "You have no access to this document: ask its owner to share it with you.",
            title="This document is not shared with you",
        )
    if await identity.setup_needed():
        return RedirectResponse("/setup", status_code=303, headers=SECURITY_HEADERS)
    target = "/login?" + urlencode({"next": request.url.path})
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


async def _keep_link(request: Request, doc_id: str, key: str) -> Response:
    """Remember a share link in this browser, and go on to the document without it."""
    identity: Identity | None = getattr(request.app.state, "identity", None)
    response = RedirectResponse(f"/d/{doc_id}", status_code=303, headers=SECURITY_HEADERS)
    if identity is None or not identity.access.enabled:
        return response
    link = await identity.accounts.link_by_hash(digest(key))
    if link is None or link.doc_id != doc_id:
        return error_page(
            404,
            "This link does not work (any more): ask the document's owner for a new one.",
            title="This link does not work",
        )
    jar = cookies(dict(request.headers.items()))
    kept = [t for t in jar.get(LINKS_COOKIE, "").split(".") if t and t != key]
    kept = [key, *kept][:MAX_LINKS_KEPT]
    secure = request.url.scheme == "https"
    year = 365 * 24 * 3600
    response.set_cookie(
        LINKS_COOKIE, ".".join(kept), max_age=year, httponly=True, secure=secure, samesite="lax"
    )
    if CSRF_COOKIE not in jar:  # a guest's changes are checked against this (app/core/gate.py)
        response.set_cookie(
            CSRF_COOKIE, secrets.token_urlsafe(24), max_age=year, secure=secure, samesite="strict"
        )
    return response


def _valid_id(doc_id: str) -> bool:
    return re.fullmatch(DOC_ID_PATTERN, doc_id) is not None


def _not_found() -> Response:
    return error_page(404, "This address does not name a document.", title="No such page")
