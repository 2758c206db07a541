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
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=app_status(exc))

    @app.exception_handler(sync_errors.SyncError)
    async def _sync_error(_: Request, exc: sync_errors.SyncError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if isinstance(exc, sync_errors.InvalidText):
            extra = {"position": exc.position, "codepoint": exc.codepoint}
        if isinstance(exc, sync_errors.PatchRejected) and exc.unplaced_hunks:
            extra = {"unplaced_hunks": exc.unplaced_hunks}
        return JSONResponse(error_body(exc.code, str(exc), **extra), status_code=sync_status(exc))

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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

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
