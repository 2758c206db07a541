"""Only the host names the server is meant to answer to (``COLLAB_ALLOWED_HOSTS``).

A request naming any other ``Host`` is refused before routing, with the usual JSON error: a
DNS-rebinding page (evil.example resolving to 127.0.0.1) then cannot talk to a server on
this machine, and links the server makes (share links) always name a host of ours.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.errors import error_body


def host_allowed(host: str, patterns: list[str]) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]):
            return True
    return False


class AllowedHosts:
    def __init__(self, app: ASGIApp, patterns: list[str]) -> None:
        self.app = app
        self.patterns = patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if host_allowed(host, self.patterns):
            await self.app(scope, receive, send)
            return
        body = error_body(
            "bad-host",
            f"this server does not answer to the host {host!r} (see COLLAB_ALLOWED_HOSTS)",
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": "bad host"})
            return
        await JSONResponse(body, status_code=400)(scope, receive, send)
