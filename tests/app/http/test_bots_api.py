"""Bots over REST: people make bots, give them roles on their own documents, list and remove
them; the access rules treat a bot like any account, and it never signs in to the app.

The XMPP side (registration on the managed Prosody, node affiliations) is tested against a
real server in tests/app/buses/xmpp/test_node_access.py; here the app runs without XMPP, so
bots are given the JID of an account on an external server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.accounts import Role
from tests.app.http.access_support import PASSWORD, World, auth_settings, world

pytestmark = pytest.mark.anyio


@pytest.fixture
async def made(tmp_path: Path) -> AsyncIterator[World]:
    async with world(auth_settings(tmp_path, database_url="memory://")) as made:
        await made.create_document("notes")
        yield made


async def test_a_bot_gets_the_roles_its_owner_gives_on_documents_they_own(made: World) -> None:
    response = await made.request(
        "owner",
        "POST",
        "/api/bots",
        json={"name": "clock", "jid": "Clock@Chat.Example", "documents": {"notes": "editor"}},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["jid"] == "clock@chat.example"  # compared without case, kept in lower case
    assert body["owner"] == "owner"
    assert body["documents"] == {"notes": "editor"}
    assert body["password"] == ""  # an external account: its owner chose the password
    sharing = (await made.request("owner", "GET", "/api/documents/notes/sharing")).json()
    assert {"name": "clock", "display_name": "clock", "role": "editor"} in sharing["people"]
    members = await made.access.bus_members("notes")
    assert members["clock@chat.example"].account == "clock"
    assert members["clock@chat.example"].may_edit
    # A bot never signs in to the app.
    login = await made.request(
        "anonymous", "POST", "/api/auth/login", json={"name": "clock", "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_refusals_name_what_is_wrong(made: World) -> None:
    async def create(persona: str, **body: object) -> tuple[int, str]:
        response = await made.request(persona, "POST", "/api/bots", json=body)
        return response.status_code, response.json()["error"]["code"] if response.is_error else ""

    # Only a document's owner may give a bot a role on it.
    assert await create("editor", name="b1", jid="b1@x.example", documents={"notes": "editor"}) == (
        403,
        "forbidden",
    )
    assert await made.access.accounts.get_account("b1") is None  # nothing half made
    owned = await create("owner", name="b2", jid="b2@x.example", documents={"notes": "owner"})
    assert owned[0] == 422
    assert (await create("owner", name="b3", jid="not a jid"))[0] == 422
    assert (await create("owner", name="Bad Name", jid="b4@x.example"))[0] == 422
    # No XMPP server of our own here: a bot needs the JID of an account made elsewhere.
    status, code = await create("owner", name="b5")
    assert (status, code) == (400, "bad-request")
    assert await create("owner", name="b6", jid="b6@x.example") == (201, "")
    assert await create("owner", name="b6", jid="other@x.example") == (409, "account-exists")
    assert await create("owner", name="b7", jid="B6@x.example") == (409, "account-exists")
    assert await create("owner", name="editor", jid="b8@x.example") == (409, "account-exists")


async def test_people_see_and_remove_their_own_bots_and_administrators_all(made: World) -> None:
    for persona, name in [("owner", "mine"), ("editor", "theirs")]:
        body = {"name": name, "jid": f"{name}@x.example"}
        assert (await made.request(persona, "POST", "/api/bots", json=body)).status_code == 201
    await made.access.share("notes", "mine", Role.VIEWER)

    async def names(persona: str) -> list[str]:
        listed = await made.request(persona, "GET", "/api/bots")
        return [bot["name"] for bot in listed.json()["items"]]

    assert await names("owner") == ["mine"]
    assert await names("editor") == ["theirs"]
    assert sorted(await names("admin")) == ["mine", "theirs"]
    listed = (await made.request("owner", "GET", "/api/bots")).json()["items"][0]
    assert listed["documents"] == {"notes": "viewer"}

    assert (await made.request("editor", "DELETE", "/api/bots/mine")).status_code == 403
    assert (await made.request("owner", "DELETE", "/api/bots/editor")).status_code == 404
    assert (await made.request("owner", "DELETE", "/api/bots/mine")).status_code == 204
    assert await names("owner") == []
    assert "mine@x.example" not in await made.access.bus_members("notes")
    assert (await made.request("admin", "DELETE", "/api/bots/theirs")).status_code == 204
    assert await names("admin") == []


async def test_an_administrator_sets_a_persons_xmpp_address(made: World) -> None:
    response = await made.request(
        "admin", "PATCH", "/api/users/viewer", json={"xmpp_jid": "Viewer@Chat.Example"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["xmpp_jid"] == "viewer@chat.example"
    members = await made.access.bus_members("notes")
    assert members["viewer@chat.example"].role == "viewer"
    assert not members["viewer@chat.example"].may_edit
    # Someone else's address cannot be claimed twice.
    taken = await made.request(
        "admin", "PATCH", "/api/users/editor", json={"xmpp_jid": "viewer@chat.example"}
    )
    assert taken.status_code == 409
    assert (await made.request("viewer", "PATCH", "/api/users/viewer", json={})).status_code == 403
    # Disabled accounts' identities are admitted no more.
    await made.request("admin", "PATCH", "/api/users/viewer", json={"disabled": True})
    assert "viewer@chat.example" not in await made.access.bus_members("notes")
    cleared = await made.request(
        "admin", "PATCH", "/api/users/viewer", json={"xmpp_jid": "", "disabled": False}
    )
    assert cleared.json()["xmpp_jid"] == ""
    assert await made.access.bus_members("notes") == {}


async def test_a_bot_acts_for_its_owner_and_not_while_the_owner_is_disabled(made: World) -> None:
    # "solo" is shared with the editor's bot only (by an administrator's hand), not with
    # the editor: it follows the bot's owner all the same.
    created = await made.request(
        "owner", "POST", "/api/documents", json={"id": "solo", "title": "solo", "text": ""}
    )
    assert created.status_code == 201, created.text
    body = {"name": "clock", "jid": "clock@chat.example", "documents": {}}
    response = await made.request("editor", "POST", "/api/bots", json=body)
    assert response.status_code == 201, response.text
    await made.access.share("solo", "clock", Role.EDITOR)
    assert "clock@chat.example" in await made.access.bus_members("solo")
    told: list[str] = []
    made.access.listeners.append(told.append)  # what keeps the nodes' affiliations equal

    response = await made.request("admin", "PATCH", "/api/users/editor", json={"disabled": True})
    assert response.status_code == 200, response.text
    assert "clock@chat.example" not in await made.access.bus_members("solo")
    assert "solo" in told  # the bot's document, where its owner has no role of their own

    told.clear()
    response = await made.request("admin", "PATCH", "/api/users/editor", json={"disabled": False})
    assert response.status_code == 200, response.text
    members = await made.access.bus_members("solo")
    assert members["clock@chat.example"].may_edit  # back with its owner
    assert "solo" in told
