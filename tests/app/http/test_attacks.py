"""The attacks of issue 10, each as a test that now fails to do harm, and the cookie path
(sessions, CSRF, Origin) they went through."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.core.accounts import Role
from app.http.hosts import host_allowed
from app.main import create_app
from tests.app.conftest import serve
from tests.app.http.access_support import PASSWORD, World, auth_settings, world
from tests.app.http.test_authorization import fast_hashes  # noqa: F401 (a fixture)
from tests.app.http.test_ws_authorization import edit_message
from tests.app.live import closed_with, join, of_type, receive_until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fast_hashes")]

EVIL = "https://evil.example"


@pytest.fixture
async def made(tmp_path: Path) -> AsyncIterator[World]:
    async with world(auth_settings(tmp_path, access_recheck_seconds=0.2)) as built:
        await built.create_document("doc")
        yield built


@contextlib.asynccontextmanager
async def signed_in(made: World, name: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser-like client of ``name``: session cookies, and the CSRF token to send."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(made.app), base_url="http://testserver"
    ) as client:
        response = await client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        assert "collab_session" in client.cookies
        csrf = response.json()["csrf_token"]
        assert client.cookies["collab_csrf"] == csrf
        yield client, csrf


async def test_anonymous_cannot_delete_a_document(made: World) -> None:
    response = await made.request("anonymous", "DELETE", "/api/documents/doc")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")
    editor = await made.request("editor", "DELETE", "/api/documents/doc")
    assert editor.status_code == 403
    assert (await made.request("owner", "GET", "/api/documents/doc")).status_code == 200


@pytest.mark.parametrize("auth", ["on", "off"])
async def test_a_page_elsewhere_cannot_import_or_open_a_socket(tmp_path: Path, auth: str) -> None:
    app = create_app(auth_settings(tmp_path, auth=auth))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c,
    ):
        response = await c.post(
            "/api/imports", files={"file": ("x.txt", b"planted")}, headers={"Origin": EVIL}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (403, "bad-origin")
        assert app.state.store and (await app.state.store.list_documents())[1] == 0
        async with serve(app) as url:
            with pytest.raises(InvalidStatus) as caught:
                await connect(f"{url.replace('http', 'ws')}/ws/doc", proxy=None, origin=EVIL)  # type: ignore[arg-type]
            assert caught.value.response.status_code == 403
            body = json.loads(caught.value.response.body or b"{}")
            assert body["error"]["code"] == "bad-origin"


async def test_a_host_not_ours_is_refused(made: World) -> None:
    response = await made.request(
        "owner", "GET", "/api/documents", headers={"Host": "evil.example"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad-host")
    async with serve(made.app) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(InvalidStatus):
            # A DNS-rebinding page: the name is evil.example's, the address ours.
            await connect(
                f"ws://evil.example:{port}/ws/doc",
                proxy=None,
                host="127.0.0.1",
                port=port,
                additional_headers=made.headers["owner"],
            )


async def test_a_reused_client_id_is_refused_and_never_acknowledged(made: World) -> None:
    async with serve(made.app) as url:
        ws_url = f"{url.replace('http', 'ws')}/ws/doc"
        victim = await connect(ws_url, proxy=None, additional_headers=made.headers["editor"])
        _, rev, text = await join(victim, "victim-1")
        await victim.send(json.dumps(edit_message("victim-1", 1, rev, text)))
        first = await receive_until(victim, of_type("revision", client="victim-1"))
        # The attacker, another editor, takes the victim's id while the victim is connected...
        attacker = await connect(ws_url, proxy=None, additional_headers=made.headers["owner"])
        await attacker.send(json.dumps({"type": "join", "client": "victim-1", "name": "x"}))
        refusal = await receive_until(attacker, of_type("error"))
        assert refusal["code"] == "forbidden"
        assert (await closed_with(attacker))[0] == 4403
        # ...and after the victim has left: the id still belongs to the victim's account.
        await victim.close()
        attacker = await connect(ws_url, proxy=None, additional_headers=made.headers["owner"])
        await attacker.send(json.dumps({"type": "join", "client": "victim-1", "name": "x"}))
        assert (await receive_until(attacker, of_type("error")))["code"] == "forbidden"
        assert (await closed_with(attacker))[0] == 4403
        # The victim comes back and goes on with its own numbers, acknowledged as its own.
        victim = await connect(ws_url, proxy=None, additional_headers=made.headers["editor"])
        _, rev, text = await join(victim, "victim-1")
        await victim.send(json.dumps(edit_message("victim-1", 2, rev, text)))
        second = await receive_until(victim, of_type("revision", client="victim-1"))
        await victim.close()
    assert (first["author"], second["author"]) == ("editor", "editor")
    assert second["rev"] == first["rev"] + 1


async def test_a_duplicate_of_someone_elses_operation_is_not_their_acknowledgement(
    made: World,
) -> None:
    # Someone else's revision already holds the operation id (written before ids were
    # scoped, or by a bot over another path): the edit is refused, not acknowledged.
    async with made.app.state.rooms.holding("doc") as room:
        await room.submit_text("planted", "owner")
    stored, _ = await made.app.state.store.history("doc", offset=0, limit=1)
    op_id = stored[0].revision.op_id
    async with serve(made.app) as url:
        ws = await connect(
            f"{url.replace('http', 'ws')}/ws/doc",
            proxy=None,
            additional_headers=made.headers["editor"],
        )
        await ws.send(json.dumps({"type": "join", "client": op_id.client, "name": "x"}))
        assert (await receive_until(ws, of_type("error")))["code"] == "forbidden"
        assert (await closed_with(ws))[0] == 4403


async def test_cookie_changes_need_the_csrf_token_and_our_origin(made: World) -> None:
    async with signed_in(made, "owner") as (client, csrf):
        no_token = await client.post("/api/documents", json={"title": "x"})
        assert (no_token.status_code, no_token.json()["error"]["code"]) == (403, "csrf-failed")
        wrong = await client.post(
            "/api/documents", json={"title": "x"}, headers={"X-CSRF-Token": "no"}
        )
        assert wrong.status_code == 403
        foreign = await client.post(
            "/api/documents", json={"title": "x"}, headers={"X-CSRF-Token": csrf, "Origin": EVIL}
        )
        assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "bad-origin")
        good = await client.post(
            "/api/documents",
            json={"title": "x"},
            headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"},
        )
        assert good.status_code == 201
        assert (await client.get("/api/auth/me")).json()["account"]["name"] == "owner"
        out = await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
    # The session ended on the server, not only in this browser.
    stale = httpx.AsyncClient(transport=httpx.ASGITransport(made.app), base_url="http://testserver")
    async with stale:
        stale.cookies.set("collab_session", "forged-or-ended")
        assert (await stale.get("/api/auth/me")).status_code == 401


async def test_session_cookies_are_httponly_samesite_and_secure_over_https(made: World) -> None:
    for base, secure in [("http://testserver", False), ("https://testserver", True)]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(made.app), base_url=base
        ) as client:
            response = await client.post(
                "/api/auth/login", json={"name": "owner", "password": PASSWORD}
            )
        cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
        assert "httponly" in cookies["collab_session"]
        assert "samesite=lax" in cookies["collab_session"]
        assert "httponly" not in cookies["collab_csrf"]  # our page reads it
        assert ("secure" in cookies["collab_session"]) is secure


async def test_an_open_editor_loses_its_socket_when_access_is_revoked(made: World) -> None:
    async with serve(made.app) as url:
        ws_url = f"{url.replace('http', 'ws')}/ws/doc"
        editor = await connect(ws_url, proxy=None, additional_headers=made.headers["editor"])
        await join(editor, "c-editor")
        guest = await connect(ws_url, proxy=None, additional_headers=made.headers["guest_edit"])
        await join(guest, "c-guest")
        viewer = await connect(ws_url, proxy=None, additional_headers=made.headers["viewer"])
        await join(viewer, "c-viewer")

        revoke = await made.request("owner", "DELETE", "/api/documents/doc/sharing/editor")
        assert revoke.status_code == 204
        assert (await closed_with(editor, timeout=3))[0] == 4403
        link = await made.request("owner", "DELETE", "/api/documents/doc/links/editor")
        assert link.status_code == 204
        assert (await closed_with(guest, timeout=3))[0] == 4403

        # Another instance's change is not heard here: the periodic check finds it.
        await made.access.accounts.set_role("doc", "viewer", None)
        assert (await closed_with(viewer, timeout=3))[0] == 4403


async def test_a_viewer_made_editor_and_back_follows_without_reconnecting(made: World) -> None:
    async with serve(made.app) as url:
        ws = await connect(
            f"{url.replace('http', 'ws')}/ws/doc",
            proxy=None,
            additional_headers=made.headers["viewer"],
        )
        _, rev, text = await join(ws, "c-viewer")
        await ws.send(json.dumps(edit_message("c-viewer", 1, rev, text)))
        assert (await receive_until(ws, of_type("error")))["code"] == "forbidden"
        await made.access.share("doc", "viewer", Role.EDITOR)
        await ws.send(json.dumps(edit_message("c-viewer", 2, rev, text)))
        ack = await receive_until(ws, lambda m: m.get("client") == "c-viewer")
        assert ack["type"] == "revision"
        await ws.close()


async def test_disabling_an_account_ends_its_sessions_tokens_and_sockets(made: World) -> None:
    async with serve(made.app) as url, signed_in(made, "editor") as (client, _):
        ws = await connect(
            f"{url.replace('http', 'ws')}/ws/doc",
            proxy=None,
            additional_headers=made.headers["editor"],
        )
        await join(ws, "c-editor")
        response = await made.request(
            "admin", "PATCH", "/api/users/editor", json={"disabled": True}
        )
        assert response.json()["disabled"] is True
        assert (await closed_with(ws, timeout=3))[0] == 4403
        assert (await client.get("/api/auth/me")).status_code == 401
    assert (await made.request("editor", "GET", "/api/auth/me")).status_code == 401
    refused = await made.http.post("/api/auth/login", json={"name": "editor", "password": PASSWORD})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")


async def test_sessions_expire(tmp_path: Path) -> None:
    async with (
        world(auth_settings(tmp_path, session_days=1.5 / 86400)) as made,
        signed_in(made, "owner") as (client, _),
    ):
        assert (await client.get("/api/auth/me")).status_code == 200
        await asyncio.sleep(1.6)
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_a_viewers_presence_reaches_the_others(made: World) -> None:
    async with serve(made.app) as url:
        ws_url = f"{url.replace('http', 'ws')}/ws/doc"
        owner = await connect(ws_url, proxy=None, additional_headers=made.headers["owner"])
        await join(owner, "c-owner")
        viewer = await connect(ws_url, proxy=None, additional_headers=made.headers["viewer"])
        await join(viewer, "c-viewer")
        await viewer.send(json.dumps({"type": "presence", "cursor": 3, "anchor": 1}))
        seen = await receive_until(
            owner,
            lambda m: (
                m["type"] == "presence"
                and m["event"] == "update"
                and m["person"]["name"] == "Viewer"
            ),
        )
        assert (seen["person"]["cursor"], seen["person"]["anchor"]) == (3, 1)
        await viewer.close()
        await owner.close()


@pytest.mark.parametrize("configured", [False, True])
async def test_cors_is_off_unless_configured(tmp_path: Path, configured: bool) -> None:
    origin = "https://tools.example.org"
    app = create_app(auth_settings(tmp_path, cors_origins=origin if configured else ""))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c,
    ):
        preflight = await c.options(
            "/api/documents",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        allowed = preflight.headers.get("access-control-allow-origin")
        assert allowed == (origin if configured else None)
        assert "access-control-allow-credentials" not in preflight.headers  # tokens, no cookies


def test_allowed_host_patterns() -> None:
    patterns = ["docs.example.org", ".example.net", "127.0.0.1", "::1"]
    for host in [
        "docs.example.org",
        "DOCS.example.org:443",
        "a.example.net",
        "example.net",
        "127.0.0.1:8000",
        "[::1]:8000",
    ]:
        assert host_allowed(host, patterns), host
    for host in ["evil.example", "docs.example.org.evil.example", "notexample.net", ""]:
        assert not host_allowed(host, patterns), host


async def test_the_address_the_server_listens_on_is_an_allowed_host(tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, host="192.0.2.7", allowed_hosts="localhost"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://192.0.2.7:8000"
        ) as c,
    ):
        assert (await c.get("/health")).status_code == 200
        assert (await c.get("/health", headers={"Host": "evil.example"})).status_code == 400
