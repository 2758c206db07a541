"""The pages with accounts on: where a browser that is not signed in is sent, and how a share
link becomes a cookie."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.core.accounts import Role
from tests.app.http.access_support import PASSWORD, auth_settings, world
from tests.app.http.test_authorization import fast_hashes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fast_hashes")]


async def test_a_fresh_installation_sends_everyone_to_setup(tmp_path: Path) -> None:
    from app.main import create_app

    app = create_app(auth_settings(tmp_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c,
    ):
        for path in ("/", "/d/doc", "/account"):
            response = await c.get(path)
            assert (response.status_code, response.headers["location"]) == (303, "/setup"), path
        assert (await c.get("/setup")).status_code == 200


async def test_pages_need_a_session_or_a_link(tmp_path: Path) -> None:
    async with world(auth_settings(tmp_path)) as made:
        await made.create_document("doc")
        http = made.http
        page = await http.get("/d/doc")
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=%2Fd%2Fdoc")
        assert (await http.get("/login")).status_code == 200
        login = await http.post("/api/auth/login", json={"name": "viewer", "password": PASSWORD})
        assert login.status_code == 200
        for path in ("/", "/d/doc", "/d/doc/history", "/d/doc/share", "/account"):
            assert (await http.get(path)).status_code == 200, path


async def test_a_share_link_is_kept_in_a_cookie_and_left_out_of_the_address(
    tmp_path: Path,
) -> None:
    async with world(auth_settings(tmp_path)) as made:
        await made.create_document("doc")
        token = made.links[Role.EDITOR]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(made.app), base_url="http://testserver"
        ) as guest:
            wrong = await guest.get("/d/doc?key=not-a-link")
            assert wrong.status_code == 404
            other = await guest.get(f"/d/other?key={token}")  # a link is for its document
            assert other.status_code == 404
            visit = await guest.get(f"/d/doc?key={token}")
            assert (visit.status_code, visit.headers["location"]) == (303, "/d/doc")
            cookie = next(c for c in visit.headers.get_list("set-cookie") if "collab_links" in c)
            assert "httponly" in cookie.lower()
            assert (await guest.get("/d/doc")).status_code == 200
            text = await guest.get("/api/documents/doc/text")
            assert text.status_code == 200
            # A change from the guest's page carries the CSRF token from its cookie.
            csrf = guest.cookies["collab_csrf"]
            restore = await guest.post("/api/documents/doc/restore", json={"rev": 0})
            assert (restore.status_code, restore.json()["error"]["code"]) == (403, "csrf-failed")
            restore = await guest.post(
                "/api/documents/doc/restore", json={"rev": 0}, headers={"X-CSRF-Token": csrf}
            )
            assert restore.status_code == 201
            assert (await guest.get("/api/documents")).status_code == 401  # no listing
            await made.identity.revoke_link("doc", Role.EDITOR)
            assert (await guest.get("/api/documents/doc/text")).status_code == 401
            gone = await guest.get("/d/doc")
            assert gone.status_code == 303
