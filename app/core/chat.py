"""Chat beside a document: the messages people in the page and XMPP occupants exchange.

A page sends ``chat``; the service checks it (length, characters, a rate per connection)
before anything else, keeps it in the document's log, sends it to the pages connected here
and hands it to the ``ChatRelay`` (the XMPP bridge: the document's multi-user chat room,
where other instances, bots and any XMPP client hear it). What the relay hears comes back
through ``ChatHost.chat_heard`` and reaches the pages the same way.

Each document's log keeps the newest ``CHAT_HISTORY`` messages, for ``chat-history`` when a
page joins; logs of at most ``MAX_LOGS`` documents are kept, the least recently used dropped
first. With XMPP, the room's own history fills the log when an instance joins the room; with
XMPP off, the log is the only history (and lasts as long as the process).

Only connections that asked for chat at ``join`` (``"chat": true``) are sent lines and the
history: a client that does not know chat (a script, an older page) sees nothing new.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from app.core.extensions import Extension
from app.core.members import Member, TokenBucket
from app.core.registry import RoomRegistry
from app.core.wire import encode
from sync.text import find_invalid

log = logging.getLogger(__name__)

MAX_CHAT_CHARS = 2000  # code points in one message
MAX_NAME_CHARS = 64
CHAT_HISTORY = 100  # messages kept per document
MAX_LOGS = 1000  # documents whose logs are kept
CHATS_PER_SECOND = 2.0  # per connection, with bursts of CHAT_BURST
CHAT_BURST = 10

Source = Literal["page", "xmpp"]


class ChatRefused(Exception):
    """A chat message refused before any work: ``code`` and the message to answer with."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One line of a document's chat, wherever it was written."""

    id: str
    name: str  # who wrote it, as the page shows them (an XMPP occupant: its nick)
    text: str
    at: int  # milliseconds since the epoch
    source: Source = "page"
    color: str = ""  # the writer's color in the page ("" for XMPP occupants)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "text": self.text,
            "at": self.at,
            "source": self.source,
        }
        if self.color:
            out["color"] = self.color
        return out


def chat_text(data: dict[str, Any]) -> str:
    """The text of a page's ``chat`` message, checked: a string of 1 to ``MAX_CHAT_CHARS``
    characters, not all blank, with nothing XML forbids. CRLF and CR become LF."""
    text = data.get("text")
    if not isinstance(text, str):
        raise ChatRefused("bad-message", "'text' must be a string")
    if len(text) > MAX_CHAT_CHARS:
        raise ChatRefused(
            "chat-too-long",
            f"a chat message may be at most {MAX_CHAT_CHARS} characters; this one has {len(text)}",
            limit=MAX_CHAT_CHARS,
        )
    index = find_invalid(text)
    if index is not None:
        cp = ord(text[index])
        reason = (
            "is a lone surrogate (half of a UTF-16 pair)"
            if 0xD800 <= cp <= 0xDFFF
            else "is not allowed in XML 1.0"
        )
        raise ChatRefused(
            "invalid-text",
            f"the chat message has U+{cp:04X} at position {index}, which {reason}",
            position=index,
            codepoint=cp,
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ChatRefused("bad-message", "a chat message needs at least one visible character")
    return text


class ChatLog:
    """A document's newest messages, oldest first, each id once."""

    def __init__(self, size: int = CHAT_HISTORY) -> None:
        self.messages: deque[ChatMessage] = deque(maxlen=size)

    def add(self, messages: Iterable[ChatMessage]) -> list[ChatMessage]:
        """Keep the messages not already kept (by id); returns those, in time order."""
        known = {message.id for message in self.messages}
        new = []
        for message in messages:
            if message.id not in known:
                known.add(message.id)
                new.append(message)
        if not new:
            return []
        newest = self.messages[-1].at if self.messages else 0
        if all(message.at >= newest for message in new):
            self.messages.extend(sorted(new, key=lambda m: m.at))
        else:  # older ones (a room's history, heard late): put everything in order
            merged = sorted([*self.messages, *new], key=lambda m: m.at)
            self.messages.clear()
            self.messages.extend(merged)
        return new

    def public(self) -> list[dict[str, Any]]:
        return [message.public() for message in self.messages]


@runtime_checkable
class ChatHost(Protocol):
    async def chat_heard(self, doc_id: str, messages: list[ChatMessage], *, history: bool) -> None:
        """Messages from elsewhere (other instances, XMPP occupants, bots); ``history``:
        what a room kept from before this instance listened."""


@runtime_checkable
class ChatRelay(Protocol):
    """What carries chat beyond this instance (a bus that also implements this)."""

    def attach_chat(self, host: ChatHost) -> None:
        """Deliver what is heard to ``host`` from now on."""

    def send_chat(self, doc_id: str, message: ChatMessage) -> None:
        """Say ``message`` (written here, by a person in the page) to the others."""


class ChatService(Extension):
    """The chat of every document, for this instance (``app.state.chat``)."""

    def __init__(self, rooms: RoomRegistry, relay: ChatRelay | None = None) -> None:
        self.rooms = rooms
        self.relay = relay
        self.logs: OrderedDict[str, ChatLog] = OrderedDict()
        self._limits: weakref.WeakKeyDictionary[Member, TokenBucket] = weakref.WeakKeyDictionary()
        self._listening: weakref.WeakSet[Member] = weakref.WeakSet()
        if relay is not None:
            relay.attach_chat(self)

    def log_of(self, doc_id: str) -> ChatLog:
        chat = self.logs.get(doc_id)
        if chat is None:
            chat = self.logs[doc_id] = ChatLog()
            if len(self.logs) > MAX_LOGS:
                self.logs.popitem(last=False)
        self.logs.move_to_end(doc_id)
        return chat

    def listen(self, doc_id: str, member: Member) -> None:
        """``member`` asked for chat at ``join``: send it the recent lines, and the new ones
        from now on."""
        self._listening.add(member)
        member.push(self.history_message(doc_id))

    def history_message(self, doc_id: str) -> dict[str, Any]:
        """What a page gets when it joins: the recent messages, oldest first."""
        return {"type": "chat-history", "messages": self.log_of(doc_id).public()}

    def say(self, doc_id: str, member: Member, data: dict[str, Any]) -> ChatMessage:
        """A person in the page wrote ``data`` (a ``chat`` message). Raises ``ChatRefused``
        before doing anything if it is past a bound."""
        bucket = self._limits.get(member)
        if bucket is None:
            bucket = self._limits[member] = TokenBucket(CHATS_PER_SECOND, CHAT_BURST)
        text = chat_text(data)
        if not bucket.take():
            raise ChatRefused(
                "rate-limited",
                f"more than {CHATS_PER_SECOND:g} chat messages per second (bursts of "
                f"{CHAT_BURST}); this one was not sent, send it again shortly",
            )
        person = member.person
        message = ChatMessage(
            id=f"c-{uuid.uuid4().hex[:20]}",
            name=person.name,
            text=text,
            at=int(time.time() * 1000),
            source="page",
            color=person.color,
        )
        self.log_of(doc_id).add([message])
        self._broadcast(doc_id, {"type": "chat", "message": message.public()})
        if self.relay is not None:
            self.relay.send_chat(doc_id, message)
        return message

    async def chat_heard(self, doc_id: str, messages: list[ChatMessage], *, history: bool) -> None:
        new = self.log_of(doc_id).add(messages)
        if not new:
            return
        if history:  # older lines among the ones pages show: they get the whole log again
            self._broadcast(doc_id, self.history_message(doc_id))
        else:
            for message in new:
                self._broadcast(doc_id, {"type": "chat", "message": message.public()})

    def _broadcast(self, doc_id: str, data: dict[str, Any]) -> None:
        room = self.rooms.rooms.get(doc_id)
        if room is None:
            return
        encoded = ""
        for member in list(room.members.values()):
            if member in self._listening:
                encoded = encoded or encode(data)
                # A full queue: the member is closed as too slow at the room's next message.
                member.push(encoded)

    async def document_deleted(self, doc_id: str) -> None:
        self.logs.pop(doc_id, None)
