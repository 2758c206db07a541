"""``WSClient(token=...)``: a script or bot edits a server with accounts through an API token,
and its revisions carry the account's name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sdk.link import SessionEnded
from sdk.websocket import WSClient
from sync.client import SyncClient
from tests.app.live import LiveServer


def make_admin_token(server: LiveServer) -> str:
    async def run() -> str:
        async with server.http() as http:
            made = await http.post(
                "/api/auth/setup",
                json={"name": "ada", "display_name": "Ada Lovelace", "password": "a long secret 1"},
            )
            assert made.status_code == 201, made.text
            csrf = made.json()["csrf_token"]
            created = await http.post(
                "/api/auth/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf}
            )
            assert created.status_code == 201, created.text
            document = await http.post(
                "/api/documents",
                json={"id": "tokened", "title": "Tokened", "text": ""},
                headers={"X-CSRF-Token": csrf},
            )
            assert document.status_code == 201, document.text
            return str(created.json()["token"])

    return asyncio.run(run())


def test_a_token_opens_the_socket_and_names_the_author(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, auth="on")
    server.start()
    try:
        token = make_admin_token(server)

        async def edit_with(token: str | None) -> tuple[str, list[str]]:
            authors: list[str] = []

            def hook(message: dict[str, object]) -> None:
                if message.get("type") == "revision":
                    authors.append(str(message.get("author")))

            client = WSClient(
                server.ws_url, "tokened", SyncClient("script-1"), token=token, on_message=hook
            )
            await client.start()
            try:
                await client.wait_synced(timeout=5)
                client.replace(0, 0, "signed")
                await client.wait_synced(timeout=5)
                return client.text, authors
            finally:
                await client.stop()

        text, authors = asyncio.run(edit_with(token))
        assert text == "signed"
        assert authors == ["ada"]  # the account, whatever the client calls itself
        # Without it the server does not accept the socket at all, and the client says so
        # instead of trying again forever.
        with pytest.raises(SessionEnded) as refused:
            asyncio.run(edit_with(None))
        assert refused.value.code == 4401
        assert "HTTP 401" in str(refused.value)
    finally:
        server.stop()
