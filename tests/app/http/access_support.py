"""A small world for the access tests: an app with accounts on, and one caller per persona.

Accounts sign in with API tokens here (headers, no cookies), so each request says exactly who
it is; the cookie and CSRF path has tests of its own (test_attacks.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.core.access import Access
from app.core.accounts import Role
from app.core.identity import Identity
from app.main import create_app

PERSONAS = (
    "anonymous",
    "guest_view",  # no account, the document's view link
    "guest_edit",  # no account, the document's edit link
    "viewer",
    "editor",
    "owner",
    "admin",
    "revoked",  # had the editor role; the owner took it away
)
PASSWORD = "a long enough password"
BASE_URL = "http://testserver"


def auth_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "idle_unload_seconds": 0,
        "auth": "on",
        "allowed_hosts": "testserver,127.0.0.1",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@dataclass
class World:
    app: FastAPI
    http: httpx.AsyncClient
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    links: dict[Role, str] = field(default_factory=dict)

    @property
    def identity(self) -> Identity:
        identity: Identity = self.app.state.identity
        return identity

    @property
    def access(self) -> Access:
        access: Access = self.app.state.access
        return access

    async def request(
        self, persona: str, method: str, path: str, **kwargs: object
    ) -> httpx.Response:
        headers = {**self.headers[persona], **dict(kwargs.pop("headers", {}))}  # type: ignore[call-overload]
        return await self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]

    async def add_account(self, name: str, *, admin: bool = False) -> dict[str, str]:
        account = await self.identity.create_account(name, name.title(), PASSWORD, admin=admin)
        secret, _ = await self.identity.create_token(account, "tests", None)
        self.headers[name] = {"Authorization": f"Bearer {secret}"}
        return self.headers[name]

    async def create_document(self, doc_id: str, text: str = "hello") -> None:
        """``doc_id``, owned by the owner, with one revision, shared with the personas."""
        response = await self.request(
            "owner", "POST", "/api/documents", json={"id": doc_id, "title": doc_id, "text": text}
        )
        assert response.status_code == 201, response.text
        async with self.app.state.rooms.holding(doc_id) as room:
            await room.submit_text(text + " world", "owner")
        await self.access.share(doc_id, "viewer", Role.VIEWER)
        await self.access.share(doc_id, "editor", Role.EDITOR)
        await self.access.share(doc_id, "revoked", Role.EDITOR)
        await self.access.share(doc_id, "revoked", None)
        for role, persona in [(Role.VIEWER, "guest_view"), (Role.EDITOR, "guest_edit")]:
            token = await self.identity.create_link(doc_id, role)
            self.links[role] = token
            self.headers[persona] = {"X-Collab-Link": token}


@contextlib.asynccontextmanager
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as http,
    ):
        made = World(app, http, headers={"anonymous": {}})
        await made.add_account("admin", admin=True)
        for name in ("owner", "editor", "viewer", "revoked"):
            await made.add_account(name)
        yield made
