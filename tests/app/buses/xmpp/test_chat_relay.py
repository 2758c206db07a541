"""What an instance makes of the lines its documents' rooms say, without a server: whose
name a line carries, which lines are its own, and how many a flood lets through."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqTimeout

from app.buses.xmpp.chat import HEARD_BURST, MucChat, instance_nick
from app.core.chat import ChatMessage
from sdk.xmpp.chat import ChatLine

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Host:
    def __init__(self) -> None:
        self.heard: list[tuple[list[ChatMessage], bool]] = []

    async def chat_heard(self, doc_id: str, messages: list[ChatMessage], *, history: bool) -> None:
        self.heard.append((messages, history))


def relay() -> tuple[MucChat, Host, list[Any]]:
    spawned: list[Any] = []
    chat = MucChat(
        ClientXMPP("collab@localhost/app-1", "secret"),
        "conference.localhost",
        "app-1",
        spawned.append,
        lambda: True,
    )
    host = Host()
    chat.attach_chat(host)
    return chat, host, spawned


def line(**fields: Any) -> ChatLine:
    base: dict[str, Any] = {
        "doc_id": "doc",
        "nick": "collab-1a2b",
        "text": "Ann\t: hi",
        "at": 1,
        "id": "m1",
        "history": False,
        "mine": False,
    }
    return ChatLine(**{**base, **fields})


async def heard(
    chat: MucChat, host: Host, spawned: list[Any], lines: list[ChatLine]
) -> list[ChatMessage]:
    chat._heard(lines)
    for work in spawned:
        await work
    spawned.clear()
    out = [message for messages, _ in host.heard for message in messages]
    host.heard.clear()
    return out


async def test_a_relayed_name_is_taken_only_from_an_app_instance() -> None:
    chat, host, spawned = relay()
    relayed = {"id": "c-1", "name": "Ann\t", "color": "#e6194b"}
    # Another instance (its real JID is the app's account): Ann's line, the prefix taken off.
    [ann] = await heard(
        chat, host, spawned, [line(real_jid="collab@localhost/app-2", relayed=relayed)]
    )
    assert (ann.id, ann.name, ann.text, ann.source, ann.color) == (
        "c-1",
        "Ann\t",
        "hi",
        "page",
        "#e6194b",
    )
    # Anyone else claiming a name in the payload: shown under its own nick, as said.
    [fake] = await heard(
        chat,
        host,
        spawned,
        [line(nick="mallory", real_jid="mallory@localhost/x", relayed=relayed, id="m2")],
    )
    assert (fake.name, fake.text, fake.source, fake.color) == ("mallory", "Ann\t: hi", "xmpp", "")
    # The room's history, from an occupant gone: a collab- nick is taken at its word.
    [old] = await heard(chat, host, spawned, [line(history=True, relayed=relayed, id="m3")])
    assert (old.name, old.source) == ("Ann\t", "page")
    [other] = await heard(
        chat, host, spawned, [line(nick="gus", history=True, relayed=relayed, id="m4")]
    )
    assert (other.name, other.source) == ("gus", "xmpp")
    # Our own lines, reflected by the room, are not heard again.
    assert await heard(chat, host, spawned, [line(mine=True, nick=instance_nick("app-1"))]) == []


async def test_a_flood_from_the_room_reaches_the_pages_at_a_bounded_rate() -> None:
    chat, host, spawned = relay()
    flood = [line(nick="gus", id=f"f{index}", text="spam") for index in range(HEARD_BURST + 50)]
    passed = await heard(chat, host, spawned, flood)
    assert len(passed) == HEARD_BURST and chat.dropped == 50
    # A history is the room's, bounded by it: all of it passes.
    history = [line(nick="gus", id=f"h{index}", history=True) for index in range(100)]
    assert len(await heard(chat, host, spawned, history)) == 100
    await asyncio.sleep(0)


class GatedRooms:
    """The room side of the relay, with its configuration held until the test lets it go:
    what a line written while the room is being made meets."""

    def __init__(self) -> None:
        self.inside: set[str] = set()
        self.said: list[tuple[str, str, bool]] = []  # (doc, text, configured when said)
        self.configured: set[str] = set()

    async def join(self, doc_id: str) -> None:
        self.inside.add(doc_id)

    def joined(self, doc_id: str) -> bool:
        return doc_id in self.inside

    def leave(self, doc_id: str) -> None:
        self.inside.discard(doc_id)

    def say(self, doc_id: str, text: str, *, relay: dict[str, str] | None = None) -> str:
        self.said.append((doc_id, text, doc_id in self.configured))
        return "id"


async def test_a_line_written_while_the_room_is_being_made_is_said_once_it_is_configured() -> None:
    chat, _host, spawned = relay()
    rooms = GatedRooms()
    chat.rooms = rooms  # type: ignore[assignment]
    gate = asyncio.Event()

    async def configure(doc_id: str) -> None:
        await gate.wait()
        rooms.configured.add(doc_id)

    async def mirror(doc_id: str) -> None:
        return None

    chat._configure = configure  # type: ignore[method-assign]
    chat.mirror = mirror  # type: ignore[method-assign]
    message = ChatMessage(id="c-1", name="Ann", text="first line", at=1, color="#e6194b")

    # The document was just made (its room is being made) and a page opens it at once.
    making = asyncio.create_task(chat.create("doc", "Title"))
    await asyncio.sleep(0)
    assert rooms.joined("doc") and not chat.ready("doc")
    await chat.open("doc", "Title")
    chat.send_chat("doc", message)
    assert rooms.said == []  # joined, but not yet configured: the line waits

    gate.set()
    await making
    assert rooms.said == [("doc", "first line", True)]
    assert chat.ready("doc") and rooms.joined("doc")  # opened meanwhile: the room stays
    assert spawned == []
    chat.send_chat("doc", message)
    assert rooms.said[-1] == ("doc", "first line", True)


async def test_a_room_whose_making_failed_while_it_was_opened_is_opened_again() -> None:
    chat, _host, spawned = relay()
    rooms = GatedRooms()
    chat.rooms = rooms  # type: ignore[assignment]
    gate = asyncio.Event()
    attempts: list[str] = []

    async def configure(doc_id: str) -> None:
        attempts.append(doc_id)
        if len(attempts) == 1:
            await gate.wait()
            raise IqTimeout(None)  # type: ignore[no-untyped-call]
        rooms.configured.add(doc_id)

    async def mirror(doc_id: str) -> None:
        return None

    chat._configure = configure  # type: ignore[method-assign]
    chat.mirror = mirror  # type: ignore[method-assign]
    making = asyncio.create_task(chat.create("doc", "Title"))
    await asyncio.sleep(0)
    await chat.open("doc", "Title")
    chat.send_chat("doc", ChatMessage(id="c-1", name="Ann", text="hello", at=1, color="#e6194b"))
    gate.set()
    await making
    assert not chat.ready("doc") and rooms.said == []
    [again] = spawned  # create() hands the room to open(), which tries again
    await again
    assert chat.ready("doc")
    assert rooms.said == [("doc", "hello", True)]
