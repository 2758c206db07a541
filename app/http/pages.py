"""The web page: serves the built front end (``frontend/dist``) with strict security headers.

The pages are static files; everything a page shows comes from the REST API and the
WebSocket, and is put into the page as text, never as HTML. The Content-Security-Policy
below is the second line of defence: even if some text were ever parsed as markup, no
script but our own bundle could run, and no page could be framed or post elsewhere.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

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


class _SecuredStaticFiles(StaticFiles):
    """Static assets with the same headers as the pages, revalidated on every load (the
    file names carry no hash, and an old bundle must never talk to a newer server)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                for name, value in {**SECURITY_HEADERS, "Cache-Control": "no-cache"}.items():
                    headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)  # type: ignore[arg-type]


def install(app: FastAPI, frontend_dir: Path) -> None:
    """Serve the pages at ``/``, ``/d/{doc_id}`` and ``/d/{doc_id}/history``."""
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
    async def documents_page() -> Response:
        return page("documents")

    @router.get("/d/{doc_id}")
    async def editor_page(doc_id: str) -> Response:
        return page("editor") if _valid_id(doc_id) else _not_found()

    @router.get("/d/{doc_id}/history")
    async def history_page(doc_id: str) -> Response:
        return page("history") if _valid_id(doc_id) else _not_found()

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


def _valid_id(doc_id: str) -> bool:
    return re.fullmatch(DOC_ID_PATTERN, doc_id) is not None


def _not_found() -> Response:
    return PlainTextResponse("No such page.", status_code=404, headers=SECURITY_HEADERS)
