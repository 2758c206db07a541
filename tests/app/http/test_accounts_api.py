"""Accounts over REST: the first administrator, registration, passwords, API tokens, the
proxy's single sign-on, and documents from before accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.app.http.access_support import PASSWORD, auth_settings, world
from tests.app.http.test_authorization import fast_hashes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fast_hashes")]


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(auth_settings(tmp_path)) as (_, client):
        yield client


def running(settings: Settings) -> _Running:
    return _Running(create_app(settings))


class _Running:
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __aenter__(self) -> tuple[FastAPI, httpx.AsyncClient]:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app), base_url="http://testserver"
        )
        return self.app, self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self._lifespan.__aexit__(None, None, None)


async def test_first_visit_makes_the_administrator_once(fresh: httpx.AsyncClient) -> None:
    state = (await fresh.get("/api/auth/state")).json()
    assert (state["auth"], state["setup_needed"], state["signed_in"]) == (True, True, None)
    short = await fresh.post("/api/auth/setup", json={"name": "root", "password": "short"})
    assert short.status_code == 422
    made = await fresh.post(
        "/api/auth/setup",
        json={"name": "root", "display_name": "Rosa", "password": PASSWORD},
    )
    assert made.status_code == 201
    assert made.json()["account"] == {**made.json()["account"], "name": "root", "admin": True}
    state = (await fresh.get("/api/auth/state")).json()
    assert state["setup_needed"] is False
    assert state["signed_in"]["display_name"] == "Rosa"  # the setup signed them in
    again = await fresh.post("/api/auth/setup", json={"name": "evil", "password": PASSWORD})
    assert again.status_code == 403


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
async def test_registration_follows_the_setting(tmp_path: Path, mode: str) -> None:
    async with world(auth_settings(tmp_path, registration=mode)) as made:
        body = {"name": "newcomer", "password": PASSWORD}
        plain = await made.http.post("/api/auth/register", json=body)
        assert plain.status_code == (201 if mode == "open" else 403)
        if mode != "invite":
            return
        code = (await made.request("admin", "POST", "/api/invites")).json()["code"]
        invited = await made.http.post("/api/auth/register", json={**body, "invite": code})
        assert invited.status_code == 201
        reused = await made.http.post(
            "/api/auth/register", json={**body, "name": "second", "invite": code}
        )
        assert reused.status_code == 403


async def test_tokens_are_shown_once_listed_without_secret_and_revocable(tmp_path: Path) -> None:
    async with world(auth_settings(tmp_path)) as made:
        created = await made.request("owner", "POST", "/api/auth/tokens", json={"name": "ci"})
        token = created.json()["token"]
        assert token.startswith("collab_")
        bearer = {"Authorization": f"Bearer {token}"}
        me = await made.http.get("/api/auth/me", headers=bearer)
        assert (me.json()["account"]["name"], me.json()["via"]) == ("owner", "token")
        listed = (await made.request("owner", "GET", "/api/auth/tokens")).json()["items"]
        assert [t["name"] for t in listed] == ["tests", "ci"]
        assert all("token" not in t for t in listed)
        stored = await made.identity.accounts.list_tokens("owner")
        assert token not in {t.token_hash for t in stored}  # only a digest is kept
        revoked = await made.request("owner", "DELETE", f"/api/auth/tokens/{created.json()['id']}")
        assert revoked.status_code == 204
        after = await made.http.get("/api/auth/me", headers=bearer)
        assert (after.status_code, after.json()["error"]["code"]) == (401, "unauthenticated")
        garbage = await made.http.get("/api/auth/me", headers={"Authorization": "Bearer nope"})
        assert garbage.status_code == 401


async def test_changing_the_password_ends_other_sessions(tmp_path: Path) -> None:
    async with world(auth_settings(tmp_path)) as made:
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(made.app), base_url="http://testserver"
        )
        async with other:
            login = await other.post(
                "/api/auth/login", json={"name": "owner", "password": PASSWORD}
            )
            assert login.status_code == 200
            changed = await made.request(
                "owner",
                "POST",
                "/api/auth/password",
                json={"old_password": PASSWORD, "new_password": "a brand new password"},
            )
            assert changed.status_code == 200
            assert (await other.get("/api/auth/me")).status_code == 401
        old = await made.http.post("/api/auth/login", json={"name": "owner", "password": PASSWORD})
        assert old.status_code == 401
        new = await made.http.post(
            "/api/auth/login", json={"name": "owner", "password": "a brand new password"}
        )
        assert new.status_code == 200


async def test_single_sign_on_trusts_the_header_only_from_the_proxy(tmp_path: Path) -> None:
    settings = auth_settings(
        tmp_path, proxy_auth_header="X-Forwarded-User", trusted_proxies="127.0.0.1"
    )
    async with running(settings) as (_, client):
        me = await client.get("/api/auth/me", headers={"X-Forwarded-User": "Dana"})
        assert (me.json()["account"]["name"], me.json()["via"]) == ("dana", "proxy")
    untrusted = auth_settings(
        tmp_path, proxy_auth_header="X-Forwarded-User", trusted_proxies="10.0.0.1"
    )
    async with running(untrusted) as (_, client):
        me = await client.get("/api/auth/me", headers={"X-Forwarded-User": "dana"})
        assert me.status_code == 401
    off = auth_settings(tmp_path)  # the default: no header is believed
    async with running(off) as (_, client):
        assert (
            await client.get("/api/auth/me", headers={"X-Forwarded-User": "dana"})
        ).status_code == 401


@pytest.mark.parametrize(("legacy", "anonymous_read"), [("none", 401), ("view", 200)])
async def test_documents_from_before_accounts_belong_to_the_first_administrator(
    tmp_path: Path, legacy: str, anonymous_read: int
) -> None:
    before = auth_settings(tmp_path, auth="off")
    async with running(before) as (_, client):
        made = await client.post("/api/documents", json={"id": "old", "text": "kept"})
        assert made.status_code == 201
    async with world(auth_settings(tmp_path, legacy_access=legacy)) as after:
        text = await after.request("admin", "GET", "/api/documents/old/text")
        assert text.json()["text"] == "kept"
        listed = await after.request("admin", "GET", "/api/documents")
        assert [d["id"] for d in listed.json()["items"]] == ["old"]
        sharing = await after.request("admin", "GET", "/api/documents/old/sharing")
        assert sharing.json()["owner"] is None
        assert (await after.request("owner", "GET", "/api/documents/old/text")).status_code == (
            403 if legacy == "none" else 200
        )
        anonymous = await after.request("anonymous", "GET", "/api/documents/old/text")
        assert anonymous.status_code == anonymous_read
        restore = await after.request(
            "anonymous", "POST", "/api/documents/old/restore", json={"rev": 0}
        )
        assert restore.status_code == (401 if legacy == "none" else 403)
        # The administrator shares it like any other document.
        shared = await after.request(
            "admin", "PUT", "/api/documents/old/sharing/editor", json={"role": "editor"}
        )
        assert shared.status_code == 204
        assert (await after.request("editor", "GET", "/api/documents/old/text")).status_code == 200


async def test_with_accounts_off_the_account_routes_say_so(tmp_path: Path) -> None:
    async with running(auth_settings(tmp_path, auth="off")) as (_, client):
        state = (await client.get("/api/auth/state")).json()
        assert (state["auth"], state["setup_needed"]) == (False, False)
        login = await client.post("/api/auth/login", json={"name": "x", "password": PASSWORD})
        assert (login.status_code, login.json()["error"]["code"]) == (403, "forbidden")


async def test_guessing_passwords_is_slowed_down(tmp_path: Path) -> None:
    async with world(auth_settings(tmp_path)) as made:
        wrong = {"name": "owner", "password": "guess"}
        codes = [
            (await made.http.post("/api/auth/login", json=wrong)).status_code for _ in range(10)
        ]
        assert codes == [401] * 10
        right = await made.http.post(
            "/api/auth/login", json={"name": "owner", "password": PASSWORD}
        )
        assert (right.status_code, right.json()["error"]["code"]) == (429, "rate-limited")
        other = await made.http.post(
            "/api/auth/login", json={"name": "editor", "password": PASSWORD}
        )
        assert other.status_code == 200  # another account is not locked out by it
