"""The WebSocket's authorization matrix: the handshake and every message type × every kind of
caller. Refusals happen before the socket is accepted (HTTP 401/403 with the JSON error);
a viewer joins read-only: presence, resync and ping work, an edit gets ``forbidden``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from sync import ops, patches
from sync.protocol import OpId
from tests.app.conftest import serve
from tests.app.http.access_support import PERSONAS, World, auth_settings, world
from tests.app.http.test_authorization import fast_hashes  # noqa: F401 (a fixture)
from tests.app.live import join, of_type, receive_until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fast_hashes")]

DOC = "doc"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[World, str]]:
    async with world(auth_settings(tmp_path)) as made:
        await made.create_document(DOC)
        async with serve(made.app) as url:
            yield made, url.replace("http://", "ws://")


async def open_as(made: World, url: str, persona: str, doc_id: str = DOC) -> ClientConnection:
    return await connect(f"{url}/ws/{doc_id}", proxy=None, additional_headers=made.headers[persona])


async def refused(made: World, url: str, persona: str) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as caught:
        await open_as(made, url, persona)
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")["error"]["code"]


def edit_message(client: str, seq: int, base: int, text: str) -> dict[str, Any]:
    """Insert "!" at the start of ``text`` (the document at ``base``)."""
    patch = patches.patch_text(text, ops.from_diffs([(1, "!"), (0, text)]))
    return {"type": "edit", "client": client, "seq": seq, "base": base, "patch": patch}


EXPECTED_JOIN: dict[str, tuple[int, str] | str] = {
    "anonymous": (401, "unauthenticated"),
    "guest_view": "viewer",
    "guest_edit": "editor",
    "viewer": "viewer",
    "editor": "editor",
    "owner": "owner",
    "admin": "owner",
    "revoked": (403, "forbidden"),
}


async def test_join_and_every_message_type_for_every_persona(live: tuple[World, str]) -> None:
    made, url = live
    got: dict[str, Any] = {}
    for persona in PERSONAS:
        expected = EXPECTED_JOIN[persona]
        if isinstance(expected, tuple):
            got[persona] = await refused(made, url, persona)
            continue
        ws = await open_as(made, url, persona)
        try:
            client = f"c-{persona.replace('_', '-')}"
            joined, rev, text = await join(ws, client, name="Chosen Name")
            await ws.send(json.dumps({"type": "ping", "at": 7}))
            pong = await receive_until(ws, of_type("pong"))
            await ws.send(json.dumps({"type": "presence", "cursor": 1, "anchor": 1}))
            await ws.send(json.dumps({"type": "resync", "client": client, "since": rev}))
            synced = await receive_until(ws, lambda m: m["type"] in ("synced", "snapshot"))
            await ws.send(json.dumps(edit_message(client, 1, rev, text)))
            answer = await receive_until(
                ws, lambda m, mine=client: m["type"] == "error" or m.get("client") == mine
            )
            got[persona] = (
                joined["role"],
                pong["at"],
                synced["type"] in ("synced", "snapshot"),
                answer["type"] if answer["type"] != "error" else answer["code"],
            )
        finally:
            await ws.close()
    editor_cell = ("editor", 7, True, "revision")
    assert got == {
        "anonymous": (401, "unauthenticated"),
        "guest_view": ("viewer", 7, True, "forbidden"),
        "guest_edit": editor_cell,
        "viewer": ("viewer", 7, True, "forbidden"),
        "editor": editor_cell,
        "owner": ("owner", 7, True, "revision"),
        "admin": ("owner", 7, True, "revision"),
        "revoked": (403, "forbidden"),
    }


async def test_revisions_carry_the_account_not_the_name_the_client_chose(
    live: tuple[World, str],
) -> None:
    made, url = live
    ws = await open_as(made, url, "editor")
    try:
        joined, rev, text = await join(ws, "c-editor", name="The Owner")
        assert joined["person"]["name"] == "Editor"  # the account's display name
        await ws.send(json.dumps({"type": "presence", "name": "Owner"}))  # ignored
        await ws.send(json.dumps(edit_message("c-editor", 1, rev, text)))
        ack = await receive_until(ws, of_type("revision", client="c-editor"))
    finally:
        await ws.close()
    assert ack["author"] == "editor"
    stored = await made.app.state.store.revision(DOC, ack["rev"])
    assert stored.revision.author == "editor"
    guest = await open_as(made, url, "guest_edit")
    try:
        _, rev, text = await join(guest, "c-guest", name="owner")
        await guest.send(json.dumps(edit_message("c-guest", 1, rev, text)))
        ack = await receive_until(guest, of_type("revision", client="c-guest"))
    finally:
        await guest.close()
    assert ack["author"] == "owner (guest)"  # marked as a guest's, never an account's name
    assert await made.app.state.store.find_operation(DOC, OpId("c-guest", 1)) is not None
