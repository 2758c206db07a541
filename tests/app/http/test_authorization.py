"""The authorization matrix: every REST route × every kind of caller, each cell an exact
status and error code. The WebSocket's matrix is in test_ws_authorization.py.

Each route gets a fresh world; each persona a fresh document (owned by "owner", shared with
"viewer" and "editor", once shared with "revoked", with a view and an edit link), so a
destructive cell (a delete, a revoked link) cannot change the cells after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from app.core.access import POLICY
from app.main import create_app
from tests.app.http.access_support import PERSONAS, World, auth_settings, world

pytestmark = pytest.mark.anyio

U = (401, "unauthenticated")
F = (403, "forbidden")


def ok(status: int) -> tuple[int, None]:
    return (status, None)


def view(status: int = 200) -> tuple[Any, ...]:
    return (U, ok(status), ok(status), ok(status), ok(status), ok(status), ok(status), F)


def edit(status: int | tuple[int, str]) -> tuple[Any, ...]:
    cell = ok(status) if isinstance(status, int) else status
    return (U, F, cell, F, cell, cell, cell, F)


def own(status: int) -> tuple[Any, ...]:
    return (U, F, F, F, F, ok(status), ok(status), F)


def account(status: int | tuple[int, str]) -> tuple[Any, ...]:
    cell = ok(status) if isinstance(status, int) else status
    return (U, U, U, cell, cell, cell, cell, cell)


def admin(status: int) -> tuple[Any, ...]:
    return (U, U, U, F, F, F, ok(status), F)


def everyone(cell: tuple[int, str | None]) -> tuple[Any, ...]:
    return (cell,) * len(PERSONAS)


# (method, route template, how to call it, expected per persona in PERSONAS order)
ROUTES: list[tuple[str, str, dict[str, Any], tuple[Any, ...]]] = [
    ("GET", "/health", {}, everyone(ok(200))),
    ("GET", "/ready", {}, everyone(ok(200))),
    ("GET", "/metrics", {}, everyone(ok(200))),
    ("GET", "/api/auth/state", {}, everyone(ok(200))),
    (
        "POST",
        "/api/auth/setup",
        {"json": {"name": "second", "password": "a long enough password"}},
        everyone(F),
    ),
    (
        "POST",
        "/api/auth/login",
        {"json": {"name": "owner", "password": "not the password"}},
        everyone((401, "bad-credentials")),
    ),
    (
        "POST",
        "/api/auth/register",
        {"json": {"name": "newcomer", "password": "a long enough password"}},
        everyone(F),  # COLLAB_REGISTRATION=invite, and no invitation
    ),
    ("POST", "/api/auth/logout", {}, account(204)),
    ("GET", "/api/auth/me", {}, account(200)),
    (
        "POST",
        "/api/auth/password",
        {"json": {"old_password": "wrong password", "new_password": "another long one"}},
        account((403, "bad-credentials")),
    ),
    ("DELETE", "/api/auth/sessions", {}, account(204)),
    ("GET", "/api/auth/tokens", {}, account(200)),
    ("POST", "/api/auth/tokens", {"json": {"name": "script"}}, account(201)),
    ("DELETE", "/api/auth/tokens/{token_id}", {}, account((404, "token-not-found"))),
    # (No XMPP in this world: nobody would hear the code. tests/app/buses/xmpp has the rest.)
    ("POST", "/api/auth/xmpp-link", {"json": {}}, account((503, "xmpp-unavailable"))),
    ("DELETE", "/api/auth/xmpp-link", {}, account(200)),
    ("GET", "/api/users", {}, admin(200)),
    (
        "POST",
        "/api/users",
        {"json": {"name": "{persona}-new", "password": "a long enough password"}},
        admin(201),
    ),
    ("PATCH", "/api/users/{name}", {"json": {"display_name": "Vee"}}, admin(200)),
    ("POST", "/api/invites", {}, admin(201)),
    ("GET", "/api/bots", {}, account(200)),
    (
        "POST",
        "/api/bots",
        {"json": {"name": "{persona}-bot", "jid": "{persona}-bot@chat.example"}},
        account(201),
    ),
    ("DELETE", "/api/bots/{name}", {}, account((404, "account-not-found"))),
    ("POST", "/api/documents", {"json": {"title": "mine"}}, account(201)),
    ("GET", "/api/documents", {}, account(200)),
    ("POST", "/api/imports", {"files": {"file": ("notes.txt", b"notes")}}, account(201)),
    ("GET", "/api/documents/{doc_id}", {}, view()),
    ("PATCH", "/api/documents/{doc_id}", {"json": {"title": "renamed"}}, own(200)),
    ("DELETE", "/api/documents/{doc_id}", {}, own(204)),
    ("GET", "/api/documents/{doc_id}/text", {}, view()),
    ("GET", "/api/documents/{doc_id}/export", {}, view()),
    ("GET", "/api/documents/{doc_id}/revisions", {}, view()),
    ("GET", "/api/documents/{doc_id}/revisions/{rev}", {}, view()),
    ("GET", "/api/documents/{doc_id}/diff", {"params": {"from": 0, "to": 1}}, view()),
    ("GET", "/api/documents/{doc_id}/blame", {}, view()),
    ("POST", "/api/documents/{doc_id}/restore", {"json": {"rev": 0}}, edit(201)),
    ("GET", "/api/documents/{doc_id}/versions", {}, view()),
    ("POST", "/api/documents/{doc_id}/versions", {"json": {"name": "v1", "rev": 1}}, edit(201)),
    ("DELETE", "/api/documents/{doc_id}/versions/{name}", {}, edit((404, "version-not-found"))),
    ("GET", "/api/documents/{doc_id}/sharing", {}, view()),
    ("PUT", "/api/documents/{doc_id}/sharing/{name}", {"json": {"role": "editor"}}, own(204)),
    ("DELETE", "/api/documents/{doc_id}/sharing/{name}", {}, own(204)),
    ("POST", "/api/documents/{doc_id}/links", {"json": {"role": "viewer"}}, own(201)),
    ("DELETE", "/api/documents/{doc_id}/links/{role}", {}, own(204)),
]


@pytest.fixture
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Argon2 at its real cost is tens of milliseconds a password, on purpose; these tests
    # make dozens of accounts and test who may do what, not the hash's strength.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("app.core.identity.PasswordHasher", lambda: cheap)
    yield


def test_every_route_is_in_the_policy_and_in_this_matrix(tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert routes == set(POLICY), "a route without an access rule is refused; add it to POLICY"
    assert routes == {(m, t) for m, t, _, _ in ROUTES}


async def call(made: World, persona: str, method: str, template: str, how: dict[str, Any]) -> Any:
    doc_id = f"doc-{persona}"
    await made.create_document(doc_id)
    path = template.format(doc_id=doc_id, rev=1, name="viewer", token_id="nope", role="viewer")
    how = dict(how)
    if "json" in how:
        how["json"] = {
            k: v.format(persona=persona.replace("_", "-")) if isinstance(v, str) else v
            for k, v in how["json"].items()
        }
    response = await made.request(persona, method, path, **how)
    code = response.json()["error"]["code"] if response.is_error else None
    return (response.status_code, code)


@pytest.mark.parametrize(
    ("method", "template", "how", "expected"),
    ROUTES,
    ids=[f"{m} {t}" for m, t, _, _ in ROUTES],
)
@pytest.mark.usefixtures("fast_hashes")
async def test_route(
    tmp_path: Path, method: str, template: str, how: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    async with world(auth_settings(tmp_path, database_url="memory://")) as made:
        got = {p: await call(made, p, method, template, how) for p in PERSONAS}
    assert got == dict(zip(PERSONAS, expected, strict=True))


@pytest.mark.usefixtures("fast_hashes")
async def test_listing_shows_only_what_each_caller_may_see(tmp_path: Path) -> None:
    async with world(auth_settings(tmp_path)) as made:
        await made.create_document("shared")
        response = await made.request("editor", "POST", "/api/documents", json={"id": "own"})
        assert response.status_code == 201
        seen = {}
        for persona in ("viewer", "editor", "owner", "admin", "revoked"):
            listed = await made.request(persona, "GET", "/api/documents")
            seen[persona] = sorted(d["id"] for d in listed.json()["items"])
            assert listed.json()["total"] == len(seen[persona])
    assert seen == {
        "viewer": ["shared"],
        "editor": ["own", "shared"],
        "owner": ["shared"],
        "admin": ["own", "shared"],
        "revoked": [],
    }


@pytest.mark.usefixtures("fast_hashes")
async def test_a_document_that_does_not_exist_is_404_to_the_signed_in(tmp_path: Path) -> None:
    async with world(auth_settings(tmp_path, database_url="memory://")) as made:
        for persona, expected in [("anonymous", 401), ("viewer", 404), ("admin", 404)]:
            response = await made.request(persona, "GET", "/api/documents/missing/text")
            assert response.status_code == expected, persona
