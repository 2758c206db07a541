"""Compressed responses: which encodings a request accepts, and gzip for what the app
computes (JSON, pages). Assets are compressed at build time instead (app/http/pages.py)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


def accepts(accept_encoding: str, coding: str) -> bool:
    """Whether an Accept-Encoding header admits ``coding`` (``q=0`` refuses it)."""
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() not in (coding, "*"):
            continue
        quality = params.strip().removeprefix("q=").strip()
        try:
            return not quality or float(quality) > 0
        except ValueError:
            return False
    return False


class Compression:
    """Starlette's GZipMiddleware for HTTP responses a client accepts gzip for. Starlette's
    own test is whether "gzip" appears in the header, so ``gzip;q=0`` would get gzip; and a
    WebSocket is passed by untouched (its frames are not HTTP bodies)."""

    def __init__(self, app: ASGIApp, minimum_size: int = 1024, compresslevel: int = 6) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and accepts(
            Headers(scope=scope).get("accept-encoding", ""), "gzip"
        ):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
