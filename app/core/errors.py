"""Errors of the server's domain: documents, revisions, contention, refusals.

They know nothing of HTTP or WebSockets: ``app/http/errors.py`` maps each ``code`` to an HTTP
status, and ``app/http/ws.py`` to a WebSocket error message or close code, in one place each.
Engine errors (``sync.errors``) are mapped beside them.

    AppError
    ├── DocumentNotFound     no such document
    ├── RevisionNotFound     no such revision of a document
    ├── DocumentExists       the id is taken
    ├── PayloadTooLarge      a text or file over a configured size limit
    ├── BadRequest           a request that cannot be read (not UTF-8, malformed upload)
    ├── InvalidInput         well-formed but invalid (a title too long)
    ├── Busy                 too contended, or a dependency is down: try again
    └── Refused              an extension said no (authentication, a policy)
"""

from __future__ import annotations

import enum


class AppError(Exception):
    code = "internal-error"


class DocumentNotFound(AppError):
    code = "document-not-found"


class RevisionNotFound(AppError):
    code = "revision-not-found"


class DocumentExists(AppError):
    code = "document-exists"


class PayloadTooLarge(AppError):
    code = "payload-too-large"


class BadRequest(AppError):
    code = "bad-request"


class InvalidInput(AppError):
    code = "invalid-input"


class Busy(AppError):
    code = "busy"


class Refusal(enum.Enum):
    """Why an extension said no; the adapters pick the status or close code from this."""

    UNAUTHENTICATED = "unauthenticated"  # who is asking is not known (HTTP 401, WS 4401)
    FORBIDDEN = "forbidden"  # known, and not allowed (HTTP 403, WS 4403)
    RATE_LIMITED = "rate-limited"  # allowed, but not this often (HTTP 429, WS error)


class Refused(AppError):
    """An extension refused a connection, a request or an edit.

    ``code`` is the stable word on the wire; it defaults to the refusal's own.
    """

    def __init__(
        self, message: str, refusal: Refusal = Refusal.FORBIDDEN, *, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.code = code or refusal.value
