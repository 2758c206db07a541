"""A person links their own XMPP address, against real Prosody and ejabberd: the account page's
code, sent from any XMPP client to the app's account, links the sender's address, which then
reads the person's documents as their role allows; a wrong or used code links nothing."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
from slixmpp import JID, Message

from sdk.xmpp.connection import XmppConnection
from sdk.xmpp.nodes import DocumentNodes
from sync.errors import BridgeError
from tests.app.buses.xmpp.test_supervision import eventually_true
from tests.app.live import LiveServer, external_xmpp, set_up_administrator
from tests.xmpp_support import XmppServerForTests, needs_prosody

pytestmark = needs_prosody
TIMEOUT = 30.0


class Client:
    """A plain XMPP client: sends chat messages, keeps what it is answered."""

    def __init__(self, connection: XmppConnection) -> None:
        self.connection = connection
        self.answers: asyncio.Queue[str] = asyncio.Queue()
        connection.xmpp.add_event_handler("message", self._heard)

    def _heard(self, message: Message) -> None:
        if message["type"] in ("chat", "normal") and message["body"]:
            self.answers.put_nowait(str(message["body"]))

    def send(self, to: str, text: str) -> None:
        self.connection.xmpp.send_message(mto=JID(to), mbody=text, mtype="chat")

    async def answer(self) -> str:
        return await asyncio.wait_for(self.answers.get(), TIMEOUT)


async def me(http: httpx.AsyncClient) -> str:
    answer = await http.get("/api/auth/me")
    assert answer.status_code == 200, answer.text
    jid: str = answer.json()["account"]["xmpp_jid"]
    return jid


async def can_read(nodes: DocumentNodes, doc: str) -> bool:
    try:
        await nodes.latest_snapshot(doc)
    except BridgeError:
        return False
    return True


def test_a_person_links_their_own_address_by_sending_the_code_from_it(
    tmp_path: Path, xmpp_server: XmppServerForTests
) -> None:
    server = LiveServer(
        tmp_path / "app",
        auth="on",
        access_recheck_seconds=1,
        **external_xmpp(xmpp_server.service, f"link-{secrets.token_hex(3)}"),
    )
    server.start()
    mine = xmpp_server.account("adas-phone")
    other = xmpp_server.account("eve")
    doc = f"mine-{secrets.token_hex(3)}"

    async def scenario() -> None:
        async with server.http() as http:
            await set_up_administrator(http)
            created = await http.post(
                "/api/documents", json={"id": doc, "title": "Mine", "text": "private\n"}
            )
            assert created.status_code == 201, created.text
            phone = XmppConnection(f"{mine.jid}/phone", mine.password, mine.host, mine.port)
            stranger = XmppConnection(f"{other.jid}/pc", other.password, other.host, other.port)
            await phone.start(wait=TIMEOUT)
            await stranger.start(wait=TIMEOUT)
            try:
                ada, eve = Client(phone), Client(stranger)
                nodes = DocumentNodes(phone.xmpp, mine.pubsub)
                await eventually_true(
                    lambda: _not(can_read(nodes, doc)),
                    "the document's nodes refusing an address nobody linked",
                )

                claimed = await http.post("/api/auth/xmpp-link", json={})
                assert claimed.status_code == 201, claimed.text
                body = claimed.json()
                assert body["send_to"] == xmpp_server.service.jid.split("/")[0]
                assert body["message"] == f"link {body['code']}"
                assert 590 <= body["expires_in"] <= 600

                # Someone else sending a wrong code is told so, and links nothing.
                eve.send(body["send_to"], "link ABCDEFGHJK")
                assert (await eve.answer()).startswith("That code is unknown or has expired")

                # Ada sends it from her phone's XMPP client: linked, and told so.
                ada.send(body["send_to"], body["message"])
                answer = await ada.answer()
                assert answer == (
                    f"Linked: {mine.jid} is now the XMPP address of the account 'ada'."
                )
                assert await me(http) == mine.jid
                # Her documents' nodes admit her address now.
                await eventually_true(
                    lambda: can_read(nodes, doc), "the document's nodes admitting her address"
                )
                # The code is used up: Eve sending it (seen in a screenshot) links nothing.
                eve.send(body["send_to"], body["message"])
                assert (await eve.answer()).startswith("That code is unknown or has expired")
                assert await me(http) == mine.jid

                # Unlinked: the nodes refuse it again.
                unlinked = await http.delete("/api/auth/xmpp-link")
                assert unlinked.status_code == 200, unlinked.text
                assert unlinked.json()["xmpp_jid"] == ""
                await eventually_true(
                    lambda: _not(can_read(nodes, doc)), "the nodes refusing the unlinked address"
                )
            finally:
                await phone.stop()
                await stranger.stop()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


async def _not(check: object) -> bool:
    assert asyncio.iscoroutine(check)
    return not await check


def test_without_xmpp_no_code_is_given(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "app", auth="on")  # XMPP off: nobody would hear the code
    server.start()

    async def scenario() -> None:
        async with server.http() as http:
            await set_up_administrator(http)
            answer = await http.post("/api/auth/xmpp-link", json={})
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "xmpp-unavailable"

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_with_accounts_off_there_is_nothing_to_link(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "app")
    server.start()

    async def scenario() -> None:
        async with server.http() as http:
            answer = await http.post("/api/auth/xmpp-link", json={})
            assert answer.status_code == 403, answer.text
            assert "accounts are off" in answer.json()["error"]["message"]

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
