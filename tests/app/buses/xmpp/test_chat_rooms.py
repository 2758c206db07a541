"""Issue 13's chat, against real Prosody and ejabberd: each document's multi-user chat room
admits exactly the XMPP identities of the document's members, and what people write in the
page and what XMPP occupants say there reach each other.

The XMPP side is a plain slixmpp client with its XEP-0045 plugin and no project code, as
Gajim or a hand-written bot would be. The page side is a raw WebSocket."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.app.buses.xmpp.test_supervision import eventually_true
from tests.app.live import (
    LiveServer,
    external_xmpp,
    join,
    of_type,
    open_socket,
    receive_until,
)
from tests.xmpp_occupant import Occupant
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


async def page(server: LiveServer, doc: str, token: str) -> ClientConnection:
    ws = await open_socket(server, doc, additional_headers={"Authorization": f"Bearer {token}"})
    await join(ws, f"page-{secrets.token_hex(3)}", name="Ada")
    await receive_until(ws, of_type("chat-history"))
    return ws


async def chat_line(ws: ClientConnection, text: str) -> dict[str, Any]:
    said = await receive_until(
        ws, lambda m: m.get("type") == "chat" and m["message"]["text"] == text, TIMEOUT
    )
    message: dict[str, Any] = said["message"]
    return message


def test_chat_room_admits_members_and_carries_lines_both_ways(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    domain = xmpp_server.service.jid.split("@", 1)[1]
    muc = f"conference.{domain}"
    server = LiveServer(
        tmp_path / "app",
        auth="on",
        access_recheck_seconds=1,
        **external_xmpp(xmpp_server.service, f"chat-{secrets.token_hex(3)}"),
    )
    server.start()
    outsider = xmpp_server.account("gajim")
    doc = f"Chat_{secrets.token_hex(3)}"  # upper case and "_": the room name keeps them apart
    room = f"doc-_chat__{doc[5:]}@{muc}"

    async def scenario() -> None:
        async with server.http() as http:
            made = await http.post(
                "/api/auth/setup", json={"name": "ada", "password": "a long secret 1"}
            )
            assert made.status_code == 201, made.text
            http.headers["X-CSRF-Token"] = made.json()["csrf_token"]
            created = await http.post("/api/documents", json={"id": doc, "title": "Chat"})
            assert created.status_code == 201, created.text
            token = (await http.post("/api/auth/tokens", json={"name": "t"})).json()["token"]

            ws = await page(server, doc, token)
            occupant = Occupant(outsider)
            await occupant.connect()
            try:
                # The page's line goes into the room once the app is in it.
                await ws.send(json.dumps({"type": "chat", "text": "before you came <&>"}))
                mine = await chat_line(ws, "before you came <&>")
                assert mine["name"] == "ada" and mine["source"] == "page"

                # No role on the document: the members-only room refuses the account.
                assert await occupant.join(room, "Stranger") in {
                    "registration-required",
                    "forbidden",
                    "not-allowed",
                }

                # Shared with its account (a viewer, as a bot of Ada's): it may join.
                bot = await http.post(
                    "/api/bots",
                    json={"name": "gajim", "jid": outsider.jid, "documents": {doc: "viewer"}},
                )
                assert bot.status_code == 201, bot.text

                async def admitted() -> bool:
                    return await occupant.join(room, "Gus") == ""

                await eventually_true(admitted, "the room admitting the new member", timeout=15)
                # The room's history has the page's line, attributed to ada.
                await eventually_true(
                    lambda: "ada: before you came <&>" in [b for _, b, _ in occupant.heard],
                    "the room's history reaching the occupant",
                    timeout=10,
                )

                # The occupant speaks: the page hears it under its nick.
                occupant.say(room, "hello from XMPP \U0001f600")
                heard = await chat_line(ws, "hello from XMPP \U0001f600")
                assert heard["name"] == "Gus" and heard["source"] == "xmpp"

                # The page answers: the occupant hears it, named.
                await ws.send(json.dumps({"type": "chat", "text": "hi Gus"}))
                await eventually_true(
                    lambda: any(body == "ada: hi Gus" for _, body, _ in occupant.heard),
                    "the page's answer reaching the occupant",
                    timeout=10,
                )
            finally:
                await occupant.close()
                await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
