"""How every error becomes an HTTP answer.

Every error response has one shape: ``{"error": {"code": "...", "message": "..."}}``, plus
``"details"`` for validation errors. The domain's errors (``app.core.errors``) and the
engine's (``sync.errors``) are mapped to statuses here, and to WebSocket messages and close
codes in ``app.http.ws``; neither knows anything of HTTP. What the statuses mean:

    400  the request cannot be read (malformed JSON or multipart, a file that is not UTF-8)
    404  no such document, revision or route
    409  the id is taken, or an edit conflicts with the document
    401  an extension does not know who is asking (Refused, UNAUTHENTICATED)
    403  an extension does not allow it (Refused, FORBIDDEN)
    413  a text or file over the configured size limit
    422  well-formed but invalid (a bad id, a forbidden character, out-of-range numbers)
    429  an extension says not this often (Refused, RATE_LIMITED)
    503  the database is unreachable or the document too contended; try again

People get pages, programs get JSON: a request whose ``Accept`` names ``text/html`` before
(or without) ``application/json``, as a browser following a link does, gets the same status
with a short page saying what went wrong and where to go (``error_page``). The web page's own
calls ask for JSON, and so does anything that accepts ``*/*``.
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core.accounts import AccountExists, AccountNotFound, TokenNotFound
from app.core.errors import (
    AppError,
    BadRequest,
    Busy,
    DocumentExists,
    DocumentNotFound,
    InvalidInput,
    PayloadTooLarge,
    Refusal,
    Refused,
    RevisionNotFound,
)
from app.core.versions import VersionNotFound
from sync import errors as sync_errors

log = logging.getLogger(__name__)


APP_STATUS: dict[type[AppError], int] = {
    DocumentNotFound: 404,
    RevisionNotFound: 404,
    DocumentExists: 409,
    PayloadTooLarge: 413,
    BadRequest: 400,
    InvalidInput: 422,
    Busy: 503,
    AccountExists: 409,
    AccountNotFound: 404,
    TokenNotFound: 404,
    VersionNotFound: 404,
}

REFUSAL_STATUS = {
    Refusal.UNAUTHENTICATED: 401,
    Refusal.FORBIDDEN: 403,
    Refusal.RATE_LIMITED: 429,
}


def app_status(exc: AppError) -> int:
    if isinstance(exc, Refused):
        return REFUSAL_STATUS[exc.refusal]
    for kind in type(exc).__mro__:
        if kind in APP_STATUS:
            return APP_STATUS[kind]
    return 500


SYNC_STATUS: dict[type[sync_errors.SyncError], int] = {
    sync_errors.InvalidText: 422,
    sync_errors.MalformedPatch: 400,
    sync_errors.PatchRejected: 409,
    sync_errors.FutureRevision: 409,
    sync_errors.StaleRevision: 409,
    sync_errors.DocumentTooLarge: 413,
    sync_errors.ChecksumMismatch: 409,
    sync_errors.ProtocolViolation: 400,
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def sync_status(exc: sync_errors.SyncError) -> int:
    for kind in type(exc).__mro__:
        if kind in SYNC_STATUS:
            return SYNC_STATUS[kind]
    return 400


_HTTP_CODES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path.

    Starlette's own ``Allow`` names only the first route matching the path, and FastAPI makes
    one route per method, so ``GET`` and ``POST`` on one path would be reported apart.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def wants_html(accept: str) -> bool:
    """Whether ``accept`` prefers a page to JSON (a browser's navigation, not a script)."""
    kinds = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    if "text/html" not in kinds:
        return False
    return "application/json" not in kinds or kinds.index("text/html") < kinds.index(
        "application/json"
    )


_PAGE_TITLES = {
    400: "That request cannot be read",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not here",
    409: "That conflicts with the document",
    413: "Too large",
    422: "That does not look right",
    429: "Too many requests",
    503: "Try again in a moment",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<title>{title} · XMPP Collab</title>
<style nonce="{nonce}">
:root {{ color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }}
body {{ max-width: 34rem; margin: 12vh auto; padding: 0 1.25rem; }}
.code {{ color: #6b7385; font-size: 0.9rem; }}
a {{ color: #2456c8; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #16191f; color: #e3e6ec; }} a {{ color: #7ea6ff; }}
}}
</style>
</head>
<body>
<main>
<p class="code">{status}</p>
<h1>{title}</h1>
<p>{message}</p>
<p><a href="/">All documents</a>{extra}</p>
</main>
</body>
</html>
"""


def error_page(
    status: int, message: str, *, title: str | None = None, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """A short page for people: what went wrong (as text, escaped) and a way back."""
    nonce = secrets.token_urlsafe(18)
    extra = ' · <a href="/login">Sign in</a>' if status == 401 else ""
    page = _PAGE.format(
        nonce=nonce,
        status=status,
        title=html.escape(title or _PAGE_TITLES.get(status, "Something went wrong")),
        message=html.escape(message),
        extra=extra,
    )
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'; object-src 'none'"
    )
    return HTMLResponse(
        page,
        status_code=status,
        headers={
            **(headers or {}),
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


def answer(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    """The error as JSON, or as a page for a browser that asked for one."""
    if wants_html(request.headers.get("accept", "")):
        return error_page(status, str(body["error"]["message"]), headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return answer(request, app_status(exc), error_body(exc.code, str(exc)))

    @app.exception_handler(sync_errors.SyncError)
    async def _sync_error(request: Request, exc: sync_errors.SyncError) -> Response:
        extra: dict[str, Any] = {}
        if isinstance(exc, sync_errors.InvalidText):
            extra = {"position": exc.position, "codepoint": exc.codepoint}
        if isinstance(exc, sync_errors.PatchRejected) and exc.unplaced_hunks:
            extra = {"unplaced_hunks": exc.unplaced_hunks}
        return answer(request, sync_status(exc), error_body(exc.code, str(exc), **extra))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for error in errors:
            if error.get("type") == "json_invalid":
                reason = error.get("ctx", {}).get("error", "JSON decode error")
                return JSONResponse(
                    error_body("invalid-json", f"the body is not valid JSON: {reason}"),
                    status_code=400,
                )
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse(
            error_body("validation-error", f"{where}: {first['msg']}", details=details),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is nothing at {request.url.path}."
        return answer(request, exc.status_code, error_body(code, detail), headers)

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            error_body("database-unavailable", "the database is unavailable; try again shortly"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    # A driver may raise its own connection error (asyncpg: ConnectionRefusedError) unwrapped.
    for kind in (OperationalError, InterfaceError, ConnectionError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback and re-raises after this answer is sent.
        return JSONResponse(
            error_body("internal-error", "the server failed to handle this request"),
            status_code=500,
        )
