"""The chat service without sockets: what a page's ``chat`` may hold, the log of a document,
the rate per connection, and what is sent to the pages and the relay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.config import Settings
from app.core.chat import (
    CHAT_BURST,
    CHAT_HISTORY,
    MAX_CHAT_CHARS,
    MAX_LOGS,
    ChatLog,
    ChatMessage,
    ChatRefused,
    ChatService,
    chat_text,
)
from app.core.extensions import Extensions
from app.core.members import Member, Person, TokenBucket
from app.core.registry import RoomRegistry
from app.stores.memory import MemoryStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def refused(data: dict[str, Any]) -> ChatRefused:
    with pytest.raises(ChatRefused) as caught:
        chat_text(data)
    return caught.value


def test_a_line_is_text_of_bounded_length() -> None:
    assert chat_text({"text": "hello"}) == "hello"
    assert chat_text({"text": "x" * MAX_CHAT_CHARS}) == "x" * MAX_CHAT_CHARS
    assert chat_text({"text": "😀" * MAX_CHAT_CHARS}) == "😀" * MAX_CHAT_CHARS  # code points
    long = refused({"text": "x" * (MAX_CHAT_CHARS + 1)})
    assert long.code == "chat-too-long" and long.extra == {"limit": MAX_CHAT_CHARS}
    assert str(long) == (
        f"a chat message may be at most {MAX_CHAT_CHARS} characters; this one has "
        f"{MAX_CHAT_CHARS + 1}"
    )
    assert refused({}).code == "bad-message"
    assert str(refused({"text": 42})) == "'text' must be a string"
    assert str(refused({"text": " \n\t"})) == "a chat message needs at least one visible character"


def test_characters_xml_cannot_carry_are_refused_with_where_they_are() -> None:
    surrogate = refused({"text": "ab\ud800"})
    assert surrogate.code == "invalid-text"
    assert surrogate.extra == {"position": 2, "codepoint": 0xD800}
    assert "lone surrogate" in str(surrogate)
    control = refused({"text": "bell\x07"})
    assert control.extra == {"position": 4, "codepoint": 7}
    assert "U+0007 at position 4, which is not allowed in XML 1.0" in str(control)
    assert refused({"text": "\ufffe"}).code == "invalid-text"
    # CR would not survive XML (parsers make it LF): lines end with LF.
    assert chat_text({"text": "a\r\nb\rc\n"}) == "a\nb\nc\n"
    assert chat_text({"text": "<b>&amp;]]>"}) == "<b>&amp;]]>"  # data, not markup


def line(message_id: str, at: int, text: str = "hi") -> ChatMessage:
    return ChatMessage(id=message_id, name="Ann", text=text, at=at)


def test_the_log_keeps_each_line_once_in_time_order_and_the_newest_only() -> None:
    log = ChatLog(size=3)
    assert log.add([line("a", 10), line("b", 20)]) == [line("a", 10), line("b", 20)]
    assert log.add([line("a", 10)]) == []  # heard again (a room's history after a rejoin)
    log.add([line("old", 5)])  # history heard late goes before
    assert [m.id for m in log.messages] == ["old", "a", "b"]
    log.add([line("c", 30)])
    assert [m.id for m in log.messages] == ["a", "b", "c"]
    assert log.public()[0] == {"id": "a", "name": "Ann", "text": "hi", "at": 10, "source": "page"}


class Channel:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def close(self, code: int, reason: str) -> None:
        pass


class Relay:
    def __init__(self) -> None:
        self.host: Any = None
        self.said: list[tuple[str, ChatMessage]] = []

    def attach_chat(self, host: Any) -> None:
        self.host = host

    def send_chat(self, doc_id: str, message: ChatMessage) -> None:
        self.said.append((doc_id, message))


def queued(who: Member) -> list[Any]:
    return [json.loads(data) for data in list(who.queue._queue) if data]  # type: ignore[attr-defined]


def member(name: str = "Ann") -> Member:
    person = Person(session=f"s-{name}", client=f"c-{name}", name=name, color="#112233")
    return Member(person, Channel(), 100, TokenBucket(100, 100))  # type: ignore[arg-type]


async def test_a_line_is_kept_sent_to_the_room_and_relayed_then_limited_per_connection() -> None:
    store = MemoryStore()
    await store.create("doc", "Doc", "")
    settings = Settings(database_url="memory://", xmpp_mode="off")
    registry = RoomRegistry(store, settings, Extensions([]))
    relay = Relay()
    chat = ChatService(registry, relay)
    assert relay.host is chat
    room = await registry.acquire("doc")
    ann, bob = member("Ann"), member("Bob")
    room.add(ann)
    room.add(bob)
    carol = member("Carol")  # did not ask for the chat
    room.add(carol)
    chat.listen("doc", ann)
    chat.listen("doc", bob)
    assert queued(ann)[-1] == {"type": "chat-history", "messages": []}
    said = chat.say("doc", ann, {"type": "chat", "text": "hello"})
    assert (said.name, said.text, said.color, said.source) == ("Ann", "hello", "#112233", "page")
    assert relay.said == [("doc", said)]
    for who in (ann, bob):  # the writer too: its echo is its acknowledgement
        assert {"type": "chat", "message": said.public()} in queued(who)
    assert chat.history_message("doc") == {"type": "chat-history", "messages": [said.public()]}
    assert not any(m.get("type", "").startswith("chat") for m in queued(carol))

    # A connection may send CHAT_BURST lines at once, then about 2 a second.
    for index in range(CHAT_BURST - 1):
        chat.say("doc", ann, {"text": f"line {index}"})
    with pytest.raises(ChatRefused) as caught:
        chat.say("doc", ann, {"text": "one too many"})
    assert caught.value.code == "rate-limited"
    chat.say("doc", bob, {"text": "Bob has a rate of his own"})
    # A line refused for its content costs nothing of the rate.
    with pytest.raises(ChatRefused):
        chat.say("doc", bob, {"text": ""})

    # Heard from elsewhere: sent to the pages as it comes, history as the whole log.
    await chat.chat_heard("doc", [line("x1", 1, "from XMPP")], history=True)
    assert chat.log_of("doc").messages[0].id == "x1"
    assert len(chat.log_of("doc").messages) <= CHAT_HISTORY
    await chat.document_deleted("doc")
    assert chat.history_message("doc")["messages"] == []


def test_logs_of_at_most_max_logs_documents_are_kept() -> None:
    chat = ChatService(None)  # type: ignore[arg-type]
    for index in range(MAX_LOGS + 5):
        chat.log_of(f"d{index}").add([line("a", 1)])
    assert len(chat.logs) == MAX_LOGS and "d0" not in chat.logs
