"""Fixtures for the server's tests: a real app on a real SQLite file in a temporary directory.

``client`` drives the app in-process through httpx (inside its lifespan); ``live_server``
serves it with uvicorn on a free port in the test's own event loop, for WebSocket clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.serving import uvicorn_options

# These tests are about HTTP, WebSockets and storage; the XMPP tests start their own Prosody
# and ask for it explicitly. Child processes (uvicorn, the CLI) inherit this.
os.environ.setdefault("COLLAB_XMPP_MODE", "off")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No .env: the tests must not depend on the machine they run on. Accounts are off: these
    # tests are about editing, storage and the protocol; tests/app/http/test_authorization.py
    # and the other access tests turn them on (auth_settings).
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        idle_unload_seconds=0,
        auth="off",
        allowed_hosts="testserver,127.0.0.1",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c,
    ):
        yield c


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn over real sockets in this loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **uvicorn_options())
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # startup failed: raise its error
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The app served over real sockets; yields its base URL (``http://127.0.0.1:PORT``)."""
    async with serve(app) as url:
        yield url


async def set_text(app: FastAPI, doc_id: str, text: str, author: str = "tester") -> int:
    """Make ``text`` the document's text as one new revision (as a restore does); its number."""
    async with app.state.rooms.holding(doc_id) as room:
        outcome = await room.submit_text(text, author)
    rev: int = outcome.revision.rev
    return rev
