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

from examples.clock_bot import chat_answer
from sdk.xmpp.bot import DocumentBot
from sdk.xmpp.chat import ChatLine
from tests.app.buses.xmpp.test_supervision import eventually_true
from tests.app.live import (
    LiveServer,
    create_document,
    external_xmpp,
    join,
    of_type,
    open_socket,
    receive_until,
    set_up_administrator,
)
from tests.xmpp_occupant import Occupant
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


async def page(server: LiveServer, doc: str, token: str) -> ClientConnection:
    ws = await open_socket(server, doc, additional_headers={"Authorization": f"Bearer {token}"})
    await join(ws, f"page-{secrets.token_hex(3)}", name="Ada", chat=True)
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
            await set_up_administrator(http)
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
                # (Until the app has made the room, the answer is that only it may make it.)
                async def kept_out() -> bool:
                    refusal = await occupant.join(room, "Stranger")
                    # No room yet: Prosody says not-allowed, ejabberd item-not-found or forbidden.
                    assert refusal in (
                        "registration-required",
                        "not-allowed",
                        "item-not-found",
                        "forbidden",
                    )
                    return refusal == "registration-required"

                await eventually_true(kept_out, "the members-only room refusing a stranger")

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

                # The room is named after the document, and follows a rename.
                renamed = await http.patch(f"/api/documents/{doc}", json={"title": "Q3 <plan>"})
                assert renamed.status_code == 200, renamed.text

                async def room_name() -> str:
                    info = await occupant.xmpp.plugin["xep_0030"].get_info(jid=room, timeout=10)
                    names = [identity[3] for identity in info["disco_info"]["identities"]]
                    return str(names[0] or "") if names else ""

                await eventually_true(
                    lambda: _is(room_name(), "Chat: Q3 <plan>"), "the room named after the title"
                )

                # The role taken away: the room sends the account out and keeps it out.
                revoked = await http.delete(f"/api/documents/{doc}/sharing/gajim")
                assert revoked.status_code == 204, revoked.text
                await eventually_true(
                    lambda: bool(occupant.sent_out), "the room sending out the revoked account"
                )
                assert await occupant.join(room, "Gus") == "registration-required"
            finally:
                await occupant.close()
                await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_bot_answers_in_the_chat_and_hears_who_asked(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    server = LiveServer(
        tmp_path / "app", **external_xmpp(xmpp_server.service, f"bot-chat-{secrets.token_hex(3)}")
    )
    server.start()
    account = xmpp_server.account("clock")
    doc = f"bot-chat-{secrets.token_hex(3)}"

    async def scenario() -> None:
        await create_document(server, doc, "text")
        ws = await open_socket(server, doc)
        await join(ws, "page-ann", name="Ann", chat=True)
        await receive_until(ws, of_type("chat-history"))
        bot = DocumentBot(
            f"{account.jid}/clock",
            account.password,
            doc,
            host=account.host,
            port=account.port,
            pubsub=account.pubsub,
            name="Clock",
        )
        heard: list[ChatLine] = []

        def on_chat(line: ChatLine) -> None:
            heard.append(line)
            reply = chat_answer(line)  # the example's own answer
            if reply is not None:
                asyncio.get_running_loop().create_task(bot.say(reply))

        bot.on_chat(on_chat)
        async with bot:
            await bot.wait_synced(TIMEOUT)
            # The instance made the room when the document was created and left it; it joins
            # again now that the page opened it. A line said before it is back reaches the
            # page inside a refreshed chat-history (the room's history), not as a "chat":
            # this test is about the live line, so the bot speaks once the instance is in.
            room = bot.chat.jid_of(doc)
            await eventually_true(
                lambda: any(n.startswith("collab-") for n in bot.chat.muc.get_roster(room)),
                "the instance back in the room",
            )
            await bot.say("Clock here: ask me /time")
            hello = await chat_line(ws, "Clock here: ask me /time")
            assert (hello["name"], hello["source"]) == ("Clock", "xmpp")

            await ws.send(json.dumps({"type": "chat", "text": "/roll"}))
            answer = await receive_until(
                ws,
                lambda m: (
                    m.get("type") == "chat"
                    and m["message"]["name"] == "Clock"
                    and m["message"]["text"].startswith("Ann: 🎲")
                ),
                TIMEOUT,
            )
            assert answer["message"]["source"] == "xmpp"
            asked = next(line for line in heard if line.words == "/roll")
            assert (asked.name, asked.nick.startswith("collab-")) == ("Ann", True)
            assert not any(line.mine for line in heard)

            # Deleting the document destroys its room: the bot is sent out of it.
            async with server.http() as http:
                deleted = await http.delete(f"/api/documents/{doc}")
                assert deleted.status_code == 204, deleted.text
            await eventually_true(
                lambda: not bot.chat.joined(doc), "the room destroyed with the document"
            )
        await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_page_opened_after_a_restart_gets_the_rooms_history(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    """The instance that wrote the lines is gone; another one, which never heard them, joins
    the room and hands its history to the page: named after their writers."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    doc = f"history-{secrets.token_hex(3)}"
    first = LiveServer(
        tmp_path / "first",
        database_url=database,
        **external_xmpp(xmpp_server.service, f"hist-a-{secrets.token_hex(3)}"),
    )
    second = LiveServer(
        tmp_path / "second",
        database_url=database,
        **external_xmpp(xmpp_server.service, f"hist-b-{secrets.token_hex(3)}"),
    )

    async def write() -> None:
        await create_document(first, doc, "text")
        ws = await open_socket(first, doc)
        await join(ws, "page-ann", name="Ann", chat=True)
        await receive_until(ws, of_type("chat-history"))
        for text in ("first line", "second line"):
            await ws.send(json.dumps({"type": "chat", "text": text}))
            await chat_line(ws, text)
        await asyncio.sleep(1)  # into the room (relayed off the page's path)
        await ws.close()

    async def read() -> list[dict[str, Any]]:
        ws = await open_socket(second, doc)
        await join(ws, "page-bob", name="Bob", chat=True)
        history = await receive_until(ws, of_type("chat-history"))
        lines: list[dict[str, Any]] = history["messages"]
        if len(lines) < 2:  # opened before the room's history came: it follows
            again = await receive_until(ws, of_type("chat-history"), TIMEOUT)
            lines = again["messages"]
        await ws.close()
        return lines

    first.start()
    try:
        asyncio.run(write())
    finally:
        first.stop()
    second.start()
    try:
        lines = asyncio.run(read())
    finally:
        second.stop()
    assert [(m["name"], m["text"], m["source"]) for m in lines] == [
        ("Ann", "first line", "page"),
        ("Ann", "second line", "page"),
    ]
    assert lines[0]["at"] <= lines[1]["at"]


def test_pages_on_two_instances_chat_through_the_room(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    """Ann's page is on instance A, Bob's on B: their lines meet in the room, each shown under
    its writer's name (the other instance is an occupant whose real JID is the app's)."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    doc = f"two-{secrets.token_hex(3)}"
    servers = [
        LiveServer(
            tmp_path / name,
            database_url=database,
            **external_xmpp(xmpp_server.service, f"two-{name}-{secrets.token_hex(3)}"),
        )
        for name in ("a", "b")
    ]

    async def scenario() -> None:
        await create_document(servers[0], doc, "text")
        ann = await open_socket(servers[0], doc)
        await join(ann, "page-ann", name="Ann", chat=True)
        await receive_until(ann, of_type("chat-history"))
        bob = await open_socket(servers[1], doc)
        await join(bob, "page-bob", name="Bob", chat=True)
        await receive_until(bob, of_type("chat-history"))

        async def said_and_heard(writer: ClientConnection, reader: ClientConnection) -> None:
            text = f"ping {secrets.token_hex(2)}"
            await writer.send(json.dumps({"type": "chat", "text": text}))
            await chat_line(writer, text)
            # Both instances must be in the room first: try until the line gets across.
            try:
                heard = await asyncio.wait_for(chat_line(reader, text), 3)
            except TimeoutError:
                return await said_and_heard(writer, reader)
            assert (heard["source"], heard["color"].startswith("#")) == ("page", True)
            assert heard["name"] in ("Ann", "Bob")

        await said_and_heard(ann, bob)
        await ann.send(json.dumps({"type": "chat", "text": "from A"}))
        assert (await chat_line(bob, "from A"))["name"] == "Ann"
        await bob.send(json.dumps({"type": "chat", "text": "from B"}))
        assert (await chat_line(ann, "from B"))["name"] == "Bob"
        await ann.close()
        await bob.close()

    for server in servers:
        server.start()
    try:
        asyncio.run(scenario())
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


async def _is(value: Any, expected: str) -> bool:
    return await value == expected


def test_a_new_documents_room_is_there_and_follows_its_members_before_anyone_opens_it(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    """Made with the document, not at its first opening: an XMPP member can join the room
    of a document no page has open, and loses it when the role goes, though no instance is in
    the room to see it happen."""
    domain = xmpp_server.service.jid.split("@", 1)[1]
    server = LiveServer(
        tmp_path / "app",
        auth="on",
        **external_xmpp(xmpp_server.service, f"made-{secrets.token_hex(3)}"),
    )
    server.start()
    member = xmpp_server.account("dino")
    doc = f"made-{secrets.token_hex(3)}"
    room = f"doc-{doc}@conference.{domain}"

    async def scenario() -> None:
        async with server.http() as http:
            await set_up_administrator(http)
            created = await http.post("/api/documents", json={"id": doc, "title": "Made"})
            assert created.status_code == 201, created.text
            bot = await http.post(
                "/api/bots",
                json={"name": "dino", "jid": member.jid, "documents": {doc: "viewer"}},
            )
            assert bot.status_code == 201, bot.text

            occupant = Occupant(member)
            await occupant.connect()
            try:

                async def admitted() -> bool:
                    return await occupant.join(room, "Dee") == ""

                await eventually_true(admitted, "the new document's room admitting its member")
                occupant.leave(room, "Dee")
                revoked = await http.delete(f"/api/documents/{doc}/sharing/dino")
                assert revoked.status_code == 204, revoked.text

                async def refused() -> bool:
                    answer = await occupant.join(room, "Dee")
                    if answer == "":
                        occupant.leave(room, "Dee")
                    return answer == "registration-required"

                await eventually_true(refused, "the room refusing the revoked member")
            finally:
                await occupant.close()
        # Nobody opened the document: the rooms were made and changed from outside them.
        assert "unloaded document" not in server.log()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_rooms_lines_are_archived_where_a_restart_keeps_them(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    """The room's history is the server's message archive (XEP-0313: Prosody's mod_muc_mam,
    ejabberd's mod_mam), kept in its database rather than in memory: any member can page
    through it, and it outlives a restart of the XMPP server."""
    domain = xmpp_server.service.jid.split("@", 1)[1]
    server = LiveServer(
        tmp_path / "app", **external_xmpp(xmpp_server.service, f"arch-{secrets.token_hex(3)}")
    )
    server.start()
    reader = xmpp_server.account("archive-reader")
    doc = f"arch-{secrets.token_hex(3)}"
    room = f"doc-{doc}@conference.{domain}"

    async def scenario() -> list[str]:
        await create_document(server, doc, "text")
        ws = await open_socket(server, doc)
        await join(ws, "page-ann", name="Ann", chat=True)
        await receive_until(ws, of_type("chat-history"))
        for text in ("archived one", "archived two <&>"):
            await ws.send(json.dumps({"type": "chat", "text": text}))
            await chat_line(ws, text)
        occupant = Occupant(reader)
        occupant.xmpp.register_plugin("xep_0059")
        occupant.xmpp.register_plugin("xep_0313")
        await occupant.connect()
        bodies: list[str] = []
        try:
            assert await occupant.join(room, "Reader") == ""
            # The room says it archives: ejabberd answers archive queries from its memory
            # too, but says so only for a room whose lines go to the database.
            info = await occupant.xmpp.plugin["xep_0030"].get_info(jid=room, timeout=10)
            assert "urn:xmpp:mam:2" in info["disco_info"]["features"]

            async def archived() -> bool:
                bodies.clear()
                mam = occupant.xmpp.plugin["xep_0313"]
                async for result in mam.iterate(jid=room, rsm={"max": 50}):
                    bodies.append(str(result["mam_result"]["forwarded"]["stanza"]["body"]))
                return "Ann: archived two <&>" in bodies

            await eventually_true(archived, "the page's lines in the room's archive")
        finally:
            await occupant.close()
            await ws.close()
        return bodies

    try:
        bodies = asyncio.run(scenario())
    finally:
        server.stop()
    assert [b for b in bodies if b.startswith("Ann: ")] == [
        "Ann: archived one",
        "Ann: archived two <&>",
    ]
    assert "Traceback" not in server.log(), server.log()
