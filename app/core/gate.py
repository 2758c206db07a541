"""The gate every request and WebSocket passes first (an ``authenticate`` extension): where
it comes from (Origin), whether a cookie-authenticated change carries its CSRF token, and
who is asking (a ``Principal``, left on ``request.identity["principal"]``).

What each route then needs is decided in ``app.core.access`` (``POLICY``).

Origin: a browser names the page that made a request. A WebSocket, and any unsafe request
(POST, PUT, PATCH, DELETE), that comes from a page of another origin is refused, whether or
not it carries credentials: a page elsewhere must not be able to edit or import through a
visitor's browser (cookies, or an installation without accounts). Requests without an Origin
(the CLI, scripts, bots) are not browsers' and pass to the credential checks.

CSRF: an unsafe request authenticated by the session cookie must also send the session's
CSRF token in ``X-CSRF-Token`` (the page reads it from the ``collab_csrf`` cookie, which a
page of another origin cannot read). Guests' changes are checked against that cookie.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from app.config import Settings
from app.core.access import OPEN, Kind
from app.core.errors import Refusal, Refused
from app.core.extensions import ConnectionRequest, Extension
from app.core.identity import (
    CSRF_COOKIE,
    CSRF_HEADER,
    LINKS_COOKIE,
    SESSION_COOKIE,
    Identity,
    cookies,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(origin: str, host: str, trusted: list[str]) -> bool:
    """Whether a page at ``origin`` is ours: the host it was served from (scheme aside: a
    proxy may end TLS in front of us) or one of the trusted origins."""
    if origin in trusted:
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


class Gate(Extension):
    priority = 10  # before applications' own hooks, which may read the principal

    def __init__(self, settings: Settings, identity: Identity | None = None) -> None:
        self.settings = settings
        # Set when the app starts (the stores open in its lifespan).
        self.identity = identity
        # Origins allowed CORS may send changes too (with a token: they hold no cookies).
        listed = settings.items(settings.trusted_origins) + settings.items(settings.cors_origins)
        self.trusted = [o.rstrip("/") for o in listed]

    async def authenticate(self, request: ConnectionRequest) -> None:
        headers = request.headers
        unsafe = request.transport == "websocket" or request.method not in SAFE_METHODS
        origin = headers.get("origin")
        if unsafe and origin is not None and origin != "null":
            if not same_origin(origin, headers.get("host", ""), self.trusted):
                raise Refused(
                    f"requests from pages at {origin} are not accepted here",
                    Refusal.FORBIDDEN,
                    code="bad-origin",
                )
        elif unsafe and origin == "null":
            raise Refused("requests from opaque origins are not accepted", code="bad-origin")
        if self.settings.auth == "off" or self.identity is None:
            request.identity["principal"] = OPEN
            return
        client_host = request.client[0] if request.client else None
        principal = await self.identity.resolve(headers, client_host)
        request.identity["principal"] = principal
        if request.transport == "http" and request.method not in SAFE_METHODS:
            self._check_csrf(request, principal.kind, principal.via)

    def _check_csrf(self, request: ConnectionRequest, kind: Kind, via: str) -> None:
        jar = cookies(request.headers)
        sent = request.headers.get(CSRF_HEADER, "")
        if via == "session":
            principal = request.identity["principal"]
            expected = principal.session.csrf if principal.session else ""
        elif kind is Kind.GUEST and LINKS_COOKIE in jar:
            expected = jar.get(CSRF_COOKIE, "")
        elif SESSION_COOKIE in jar or LINKS_COOKIE in jar:
            # Stale cookies that named nobody: nothing to protect, nothing to check.
            return
        else:
            return
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Refused(
                "this change needs the X-CSRF-Token header (reload the page)",
                Refusal.FORBIDDEN,
                code="csrf-failed",
            )
