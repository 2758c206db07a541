"""pycrdt-websocket as a server process (runs in the peers' venv):

    uvicorn pycrdt_app:create_app --factory --app-dir bench/peers

Its documented composition: a ``WebsocketServer`` (rooms by path, in memory, no store) behind
its ``ASGIServer``, run by uvicorn as our server is. What it lacks for a benchmark is added
around it and nothing else: the lifespan starts and stops the ``WebsocketServer``, and plain
HTTP requests get ``200 ok`` (the harness's health check).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class PeerApp:
    def __init__(self) -> None:
        self.server = WebsocketServer(exception_handler=exception_logger)
        self.asgi = ASGIServer(self.server)
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await self.asgi(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._task = asyncio.create_task(self.server.start())
                await self.server.started.wait()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.server.running:
                    await self.server.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> PeerApp:
    logging.basicConfig(level=logging.WARNING)
    return PeerApp()
