"""A document's chat: its multi-user chat room (XEP-0045), for the app and for bots.

Every document ``<id>`` has one room, ``<room name>@conference.<domain>``: the name is
``doc-`` and the id with every upper-case letter written as ``_`` and the letter in lower
case and ``_`` as ``__`` (room names ignore case; document ids do not), so ``q3-plan`` is
``doc-q3-plan`` and ``Q3_plan`` is ``doc-_q3__plan``.

:class:`ChatRooms` occupies rooms under one nick, reports the lines said there (the room's
history on joining, then each new line) and says lines. Lines the app relays for people in
the page carry who wrote them::

    <message type="groupchat" to="doc-q3-plan@conference.example.org" id="c-1b2c">
      <body>Ann: shall we merge the two lists?</body>
      <chat xmlns="urn:xmpp-collab:0" id="c-1b2c" color="#e6194b">Ann</chat>
    </message>

Plain XMPP clients show the body; the app, which knows the instances' real JIDs, shows the
line as Ann's. The name in ``<chat/>`` is ``%xx``-escaped UTF-8, like names in presence
(``stanza.py``): a name may hold a tab, which an XML attribute would not keep.

Everything said is made safe for XML first: characters XML forbids become U+FFFD, and a line
longer than ``MAX_LINE_CHARS`` is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from slixmpp import JID, ClientXMPP, Message, Presence
from slixmpp.xmlstream import ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from sdk.xmpp.stanza import NS, escape_text, unescape_text
from sync.errors import BridgeError, SyncError
from sync.text import find_invalid

log = logging.getLogger(__name__)

MAX_LINE_CHARS = 2000  # what a line may carry (the app's chat limit)
MAX_NICK_CHARS = 64
HISTORY_STANZAS = 100  # what the room is asked to replay on joining
JOIN_TIMEOUT_SECONDS = 15.0
# After joining, how long the room's history may take to arrive (its end is the subject).
HISTORY_WAIT_SECONDS = 5.0
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ROOM = re.compile(r"doc-((?:[a-z0-9-]|_[a-z_]){1,64})")
_DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ChatStanza(ElementBase):
    """Who wrote a line the app relays: ``<chat xmlns="urn:xmpp-collab:0" id color>`` and
    the writer's name, escaped, as its text."""

    namespace = NS
    name = "chat"
    plugin_attrib = "collab_chat"
    interfaces: ClassVar[set[str]] = {"id", "color"}


register_stanza_plugin(Message, ChatStanza)


def room_name(doc_id: str) -> str:
    """The room's local part for ``doc_id`` (see the module's docstring)."""
    out = []
    for char in doc_id:
        if char == "_":
            out.append("__")
        elif char.isupper():
            out.append("_" + char.lower())
        else:
            out.append(char)
    return "doc-" + "".join(out)


def doc_of_room(name: str) -> str | None:
    """The document a room's local part names, or None if it is not one of ours."""
    match = _ROOM.fullmatch(name)
    if match is None:
        return None
    encoded, out, index = match.group(1), [], 0
    while index < len(encoded):
        char = encoded[index]
        if char == "_":
            following = encoded[index + 1]
            out.append("_" if following == "_" else following.upper())
            index += 2
        else:
            out.append(char)
            index += 1
    doc_id = "".join(out)
    return doc_id if _DOC_ID.fullmatch(doc_id) else None


def room_jid(doc_id: str, service: str) -> str:
    return f"{room_name(doc_id)}@{service}"


def xml_safe(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` with what XML forbids (control characters, lone surrogates, U+FFFE and
    U+FFFF) replaced by U+FFFD, and cut to ``limit`` characters."""
    if find_invalid(text) is not None:
        text = _FORBIDDEN.sub("\ufffd", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One line said in a room."""

    doc_id: str
    nick: str  # the occupant who said it
    text: str  # the body
    at: int  # milliseconds since the epoch (the room's stamp for history)
    id: str  # the message's id (or a digest of it, for a message without one)
    history: bool  # replayed by the room on joining, said before we were there
    mine: bool  # said by us (the room reflects what we say)
    real_jid: str = ""  # the occupant's real JID, when the room tells us (owners see it)
    relayed: dict[str, str] | None = None  # a <chat/> payload: id, name, color

    @property
    def name(self) -> str:
        """Who wrote it: the person the app relayed it for, or the occupant. (Only the app,
        which sees occupants' real JIDs, can check that a relayed line came from an app
        instance; to anyone else the name is the sender's word.)"""
        return self.relayed["name"] if self.relayed and self.relayed.get("name") else self.nick

    @property
    def words(self) -> str:
        """What was said, without the ``name: `` the app puts before relayed lines."""
        prefix = f"{self.name}: "
        if self.relayed and self.text.startswith(prefix):
            return self.text[len(prefix) :]
        return self.text


LineListener = Callable[[list[ChatLine]], object]


@dataclass
class _Room:
    jid: JID
    nick: str
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    history: list[ChatLine] = field(default_factory=list)
    history_done: bool = False
    flush: asyncio.TimerHandle | None = None


class ChatDenied(BridgeError):
    """The room would not let us in: we are not one of its members (no role on the
    document), or it does not exist and we may not create it."""


class ChatRooms:
    """Document rooms occupied under one nick, on one XMPP connection."""

    def __init__(
        self, xmpp: ClientXMPP, service: str, nick: str, *, history: int = HISTORY_STANZAS
    ) -> None:
        self.xmpp = xmpp
        self.service = service
        self.nick = xml_safe(nick, MAX_NICK_CHARS)
        self.history = history
        for plugin in ("xep_0030", "xep_0004", "xep_0045", "xep_0203"):
            xmpp.register_plugin(plugin)
        self.muc: Any = xmpp.plugin["xep_0045"]
        self.rooms: dict[str, _Room] = {}
        self.on_lines: list[LineListener] = []
        xmpp.add_event_handler("groupchat_message", self._on_message)
        xmpp.add_event_handler("groupchat_subject", self._on_subject)
        xmpp.add_event_handler("groupchat_presence", self._on_presence)
        # A room's refusal of our join. Servers need not echo the join's <x/> in it (Prosody
        # does not), so the plugin's event for it may not come; and once an occupant JID has
        # been in a room the plugin has the roster ignore it, so "presence_error" may not
        # either. Hence a handler of our own, on the stanza itself.
        self._refusals: dict[str, Callable[[Presence], None]] = {}
        xmpp.register_handler(
            Callback(
                "collab chat refusal",
                StanzaPath("presence@type=error"),
                self._on_refusal,  # type: ignore[arg-type]
            )
        )

    def jid_of(self, doc_id: str) -> JID:
        return JID(room_jid(doc_id, self.service))

    def joined(self, doc_id: str) -> bool:
        room = self.rooms.get(doc_id)
        return room is not None and room.joined.is_set()

    async def join(self, doc_id: str, *, timeout: float = JOIN_TIMEOUT_SECONDS) -> Presence:
        """Enter the room (again, after a reconnect); returns our own presence, whose status
        codes say whether the room was just made (201). Raises ``ChatDenied`` or
        ``BridgeError``."""
        jid = self.jid_of(doc_id)
        room = _Room(jid, self.nick)
        previous = self.rooms.get(doc_id)
        if previous is not None and previous.flush is not None:
            previous.flush.cancel()
        self.rooms[doc_id] = room
        for attempt in range(3):
            try:
                presence = await self._enter(room, timeout)
            except BridgeError as exc:
                if exc.condition == "conflict" and attempt < 2:
                    # Someone holds our nick: take another, ours, for this room.
                    room.nick = f"{self.nick}~{secrets.token_hex(2)}"
                    continue
                if self.rooms.get(doc_id) is room:
                    del self.rooms[doc_id]
                raise
            room.joined.set()
            room.flush = asyncio.get_running_loop().call_later(
                HISTORY_WAIT_SECONDS, self._end_history, doc_id, room
            )
            return presence
        raise AssertionError("unreachable")

    async def _enter(self, room: _Room, timeout: float) -> Presence:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Presence] = loop.create_future()

        def settle(presence: Presence) -> None:
            if not answer.done():
                answer.set_result(presence)

        # The plugin tracks occupants (and their real JIDs) only for rooms it knows.
        self.muc.rooms[None][room.jid] = {}
        self.muc.our_nicks[None][room.jid] = room.nick
        stanza = self.muc.make_join_stanza(room.jid, room.nick, maxstanzas=self.history)
        self._refusals[str(room.jid.bare)] = settle
        try:
            with self.xmpp.event_handler(f"muc::{room.jid}::self-presence", settle):
                stanza.send()
                presence = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise BridgeError(
                f"no answer from {room.jid} in {timeout:g} s", condition="timeout"
            ) from None
        finally:
            if self._refusals.get(str(room.jid.bare)) is settle:
                del self._refusals[str(room.jid.bare)]
        if presence["type"] == "error":
            condition = presence["error"]["condition"]
            text = presence["error"]["text"]
            message = f"{room.jid} refused us: {condition}{f' ({text})' if text else ''}"
            # (not-allowed, item-not-found, and on ejabberd forbidden: the room does not
            # exist yet, and only the app may make it. It will, when the document is opened.)
            if condition in ("registration-required", "not-authorized"):
                raise ChatDenied(message, condition=condition)
            raise BridgeError(message, condition=condition)
        return presence

    def _on_refusal(self, presence: Presence) -> None:
        settle = self._refusals.get(str(presence["from"].bare))
        if settle is not None:
            settle(presence)

    def leave(self, doc_id: str) -> None:
        room = self.rooms.pop(doc_id, None)
        if room is None:
            return
        if room.flush is not None:
            room.flush.cancel()
        with contextlib.suppress(KeyError):
            self.muc.leave_muc(room.jid, room.nick)

    def forget_all(self) -> None:
        """The connection dropped: every room must be joined again."""
        for room in self.rooms.values():
            room.joined.clear()
            if room.flush is not None:
                room.flush.cancel()

    def say(self, doc_id: str, text: str, *, relay: dict[str, str] | None = None) -> str:
        """Say ``text`` in the room (made safe for XML first); returns the message's id.
        ``relay`` (id, name, color) says the app relays the line for a person in the page:
        the body is then ``name: text``."""
        room = self.rooms.get(doc_id)
        if room is None or not room.joined.is_set():
            raise BridgeError(f"not in the chat room of '{doc_id}'", condition="not-joined")
        text = xml_safe(text)
        message_id = relay["id"] if relay else f"c-{secrets.token_hex(10)}"
        body = text
        if relay is not None:
            name = xml_safe(relay["name"], MAX_NICK_CHARS)
            body = f"{name}: {text}"
        message = self.xmpp.make_message(mto=room.jid, mbody=body, mtype="groupchat")
        message["id"] = xml_safe(message_id, 64)
        if relay is not None:
            payload = ChatStanza()
            payload["id"] = xml_safe(relay["id"], 64)
            payload.xml.text = escape_text(xml_safe(relay["name"], MAX_NICK_CHARS))
            if relay.get("color"):
                payload["color"] = xml_safe(relay["color"], 7)
            message.append(payload)
        message.send()
        return message_id

    def real_jid(self, doc_id: str, nick: str) -> str:
        room = self.rooms.get(doc_id)
        if room is None:
            return ""
        value = self.muc.get_jid_property(room.jid, nick, "jid")
        return str(value) if value else ""

    # -- what the rooms send us -----------------------------------------------------------

    def _doc_of(self, sender: JID) -> str | None:
        if sender.domain != self.service:
            return None
        doc_id = doc_of_room(sender.user)
        room = self.rooms.get(doc_id) if doc_id is not None else None
        return doc_id if room is not None and room.jid.bare == sender.bare else None

    def _on_presence(self, presence: Presence) -> None:
        # Kicked (a role taken away: the room is members-only) or the room destroyed.
        if presence["type"] != "unavailable":
            return
        doc_id = self._doc_of(presence["from"])
        if doc_id is None:
            return
        room = self.rooms[doc_id]
        if presence["from"].resource == room.nick:
            log.info("left the chat room of '%s' (%s)", doc_id, presence["muc"]["status_codes"])
            room.joined.clear()

    def _on_message(self, message: Message) -> None:
        doc_id = self._doc_of(message["from"])
        if doc_id is None:
            return
        room = self.rooms[doc_id]
        line = self._line(doc_id, room, message)
        if line is None:
            return
        if line.history and not room.history_done:
            room.history.append(line)
            return
        self._tell([line])

    def _on_subject(self, message: Message) -> None:
        doc_id = self._doc_of(message["from"])
        if doc_id is not None:
            self._end_history(doc_id, self.rooms[doc_id])

    def _end_history(self, doc_id: str, room: _Room) -> None:
        """The room's history is over (its subject came, or we waited long enough)."""
        if self.rooms.get(doc_id) is not room or room.history_done:
            return
        room.history_done = True
        if room.flush is not None:
            room.flush.cancel()
            room.flush = None
        lines, room.history = room.history, []
        if lines:
            self._tell(lines)

    def _tell(self, lines: list[ChatLine]) -> None:
        for listener in list(self.on_lines):
            try:
                listener(lines)
            except Exception:
                log.exception("a chat listener failed")

    def _line(self, doc_id: str, room: _Room, message: Message) -> ChatLine | None:
        nick = message["from"].resource
        body = message["body"]
        if not nick or not body:
            return None  # the room itself speaking, or nothing said
        delay = message.get_plugin("delay", check=True)
        history = delay is not None and delay["from"] == room.jid.bare
        stamp = delay["stamp"] if history and delay is not None else None
        at_time = stamp if isinstance(stamp, datetime.datetime) else None
        at = int((at_time or datetime.datetime.now(datetime.UTC)).timestamp() * 1000)
        relayed = None
        payload = message.xml.find(f"{{{NS}}}chat")
        if payload is not None:
            chat = message["collab_chat"]
            try:
                name = unescape_text(payload.text or "", what="name")
            except SyncError:
                name = ""  # garbled: the line is the occupant's own
            if name:
                relayed = {
                    "id": xml_safe(chat["id"], 64),
                    "name": xml_safe(name, MAX_NICK_CHARS),
                    "color": chat["color"],
                }
        message_id = message["id"] or ""
        if not message_id:
            digest = hashlib.sha256(f"{nick}\0{body}".encode(errors="replace")).hexdigest()
            message_id = f"x-{digest[:20]}"
        return ChatLine(
            doc_id=doc_id,
            nick=xml_safe(nick, MAX_NICK_CHARS),
            text=xml_safe(body),
            at=at,
            id=message_id[:64],
            history=history,
            mine=not history and nick == room.nick,
            real_jid=self.real_jid(doc_id, nick),
            relayed=relayed,
        )
