"""Documents' chat rooms on the XMPP server's multi-user chat service (XEP-0045).

Each instance occupies the room of every document it has open, under a nick of its own
(``collab-<4 hex>``, from its resource), and relays the lines people in its pages write,
each naming its writer (``sdk/xmpp/chat.py``). What the room says reaches the instance's
pages: lines other instances relayed (told apart by the real JID the room shows its owners,
the service account) under the writer's name, anything else under the occupant's nick.

The app's account owns the rooms. The first instance to open a document makes its room
(only the service account may: the servers' configurations restrict room creation), and
every instance that joins sets its configuration: persistent, hidden, members-only with
accounts on (open with ``COLLAB_AUTH=off``), real JIDs shown to owners only, a history of
``CHAT_HISTORY`` lines. With accounts on, the room's members are the XMPP identities of the
document's members (``Access.bus_members``), kept equal as the nodes' affiliations are
(``affiliations.py``): whoever loses their role is taken off the list, and a members-only
room sends them out. Deleting a document destroys its room.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout

from app.buses.xmpp.affiliations import normalized
from app.core.bus import MembersOf
from app.core.chat import CHAT_HISTORY, ChatHost, ChatMessage
from app.core.members import TokenBucket
from sdk.xmpp.chat import ChatLine, ChatRooms
from sync.errors import BridgeError

log = logging.getLogger(__name__)

NICK_PREFIX = "collab-"
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
CONFIG_FORM = "http://jabber.org/protocol/muc#roomconfig"
RETRY_SECONDS = 2.0
# Lines heard from a room, per document: a flood from an XMPP client (nothing on the XMPP
# server limits one) reaches the pages at this rate at most; the rest is dropped (logged).
HEARD_PER_SECOND = 20.0
HEARD_BURST = 100


def instance_nick(resource: str) -> str:
    return NICK_PREFIX + hashlib.sha256(resource.encode()).hexdigest()[:4]


class MucChat:
    """The ``ChatRelay`` half of the XMPP bridge: one room per open document."""

    def __init__(
        self,
        xmpp: ClientXMPP,
        service: str,
        resource: str,
        spawn: Callable[[Any], None],
        connected: Callable[[], bool],
    ) -> None:
        self.rooms = ChatRooms(xmpp, service, instance_nick(resource), history=CHAT_HISTORY)
        self.rooms.on_lines.append(self._heard)
        self.xmpp = xmpp
        self.service = service
        self._spawn = spawn
        self._connected = connected
        self._opening: set[str] = set()
        self._creating: set[str] = set()
        # Rooms joined here *and* configured: a line said before the configuration is in
        # may be said in a room that is not yet persistent (ejabberd then keeps no history
        # of it), so lines wait in ``_pending`` until the room is ready.
        self._ready: set[str] = set()
        # Lines written while this instance was not (yet) in the room: said once it is.
        self._pending: dict[str, list[ChatMessage]] = {}
        self._heard_rate: dict[str, TokenBucket] = {}
        self.dropped = 0  # lines heard past HEARD_PER_SECOND
        self.host: ChatHost | None = None
        self.members_of: MembersOf | None = None
        self.wanted: set[str] = set()  # documents open here: their rooms are joined
        self.titles: dict[str, str] = {}

    @property
    def me(self) -> str:
        return normalized(str(self.xmpp.boundjid.bare))

    # -- the bridge's side ----------------------------------------------------------------

    async def open(self, doc_id: str, title: str) -> None:
        """Join (and make, the first time) the document's room; tried again every
        ``RETRY_SECONDS`` while the server refuses, as long as the document stays open."""
        self.wanted.add(doc_id)
        self.titles[doc_id] = title
        if doc_id in self._opening or doc_id in self._creating:
            return  # that one makes the room ready (create() calls open() if it fails)
        self._opening.add(doc_id)
        try:
            while doc_id in self.wanted and self._connected() and not self.ready(doc_id):
                try:
                    await self._open(doc_id)
                    return
                except (BridgeError, IqError, IqTimeout) as exc:
                    log.warning(
                        "could not join the chat room of %s: %s; trying again in %g s",
                        doc_id,
                        _reason(exc),
                        RETRY_SECONDS,
                    )
                await asyncio.sleep(RETRY_SECONDS)
        finally:
            self._opening.discard(doc_id)

    async def _open(self, doc_id: str) -> None:
        await self.rooms.join(doc_id)
        if doc_id not in self.wanted:  # closed while we joined
            self.rooms.leave(doc_id)
            return
        await self._configure(doc_id)
        await self.mirror(doc_id)
        self._made_ready(doc_id)

    def ready(self, doc_id: str) -> bool:
        """In the document's room, configured: lines said now are kept in its history."""
        return doc_id in self._ready and self.rooms.joined(doc_id)

    def _made_ready(self, doc_id: str) -> None:
        self._ready.add(doc_id)
        for message in self._pending.pop(doc_id, []):
            self.send_chat(doc_id, message)

    async def create(self, doc_id: str, title: str) -> None:
        """Make a new document's room now, configured and with its members, so that it is
        there for XMPP clients before anyone opens the document; this instance then leaves
        it unless the document was opened here meanwhile. If the server refuses, the room is
        made when the document is first opened."""
        if doc_id in self.wanted or doc_id in self._opening:
            return  # open() makes it
        self.titles[doc_id] = title
        self._creating.add(doc_id)
        try:
            await self.rooms.join(doc_id)
            await self._configure(doc_id)
            await self.mirror(doc_id)
            if doc_id in self.wanted:  # opened here meanwhile: it stays, ready
                self._made_ready(doc_id)
        except (BridgeError, IqError, IqTimeout) as exc:
            log.warning(
                "could not make the chat room of %s: %s (made when it is first opened)",
                doc_id,
                _reason(exc),
            )
        finally:
            self._creating.discard(doc_id)
            if doc_id not in self.wanted:
                self.titles.pop(doc_id, None)
                self.rooms.leave(doc_id)
            elif not self.ready(doc_id):  # opened meanwhile, and the making failed
                self._spawn(self.open(doc_id, self.titles.get(doc_id, title)))

    def close(self, doc_id: str) -> None:
        self.wanted.discard(doc_id)
        self._ready.discard(doc_id)
        self.titles.pop(doc_id, None)
        self._pending.pop(doc_id, None)
        self._heard_rate.pop(doc_id, None)
        self.rooms.leave(doc_id)

    def disconnected(self) -> None:
        self._ready.clear()
        self.rooms.forget_all()

    async def destroy(self, doc_id: str) -> None:
        """The document was deleted: so is its room (its occupants are told)."""
        self.close(doc_id)
        try:
            await self.rooms.muc.destroy(
                self.rooms.jid_of(doc_id), reason="the document was deleted", timeout=10
            )
        except (IqError, IqTimeout) as exc:
            log.info("could not destroy the chat room of %s: %s", doc_id, _reason(exc))

    def renamed(self, doc_id: str, title: str) -> None:
        """The room's name follows the document's title (set here, where it was renamed)."""
        if doc_id in self.wanted:
            self.titles[doc_id] = title
        if self.rooms.joined(doc_id):
            self._spawn(self._configure_logged(doc_id))

    async def _configure_logged(self, doc_id: str) -> None:
        try:
            await self._configure(doc_id)
        except (BridgeError, IqError, IqTimeout) as exc:
            log.info("could not rename the chat room of %s: %s", doc_id, _reason(exc))

    def access_changed(self, doc_id: str) -> None:
        # Also for a room no instance is in: its owner (our account) may change its members
        # from outside, and a revoked person must not read a room nobody has open.
        if self.members_of is not None and self._connected():
            self._spawn(self._mirror_logged(doc_id))

    async def _mirror_logged(self, doc_id: str) -> None:
        try:
            await self.mirror(doc_id)
        except IqError as exc:
            if exc.iq["error"]["condition"] == "item-not-found":
                # No room yet (a document from before chat, or made while XMPP was down):
                # made, with its members, when the document is first opened.
                return
            log.warning("could not update the chat room of %s: %s", doc_id, _reason(exc))
        except (BridgeError, IqTimeout) as exc:
            log.warning("could not update the chat room of %s: %s", doc_id, _reason(exc))

    # -- ChatRelay ------------------------------------------------------------------------

    def attach_chat(self, host: ChatHost) -> None:
        self.host = host

    def send_chat(self, doc_id: str, message: ChatMessage) -> None:
        if not self.ready(doc_id):
            pending = self._pending.setdefault(doc_id, [])
            if len(pending) < CHAT_HISTORY:  # said once in the room (after an outage, say)
                pending.append(message)
            return
        relay = {"id": message.id, "name": message.name, "color": message.color}
        try:
            self.rooms.say(doc_id, message.text, relay=relay)
        except BridgeError as exc:
            log.info("chat line on %s not relayed: %s", doc_id, exc)

    # -- the room ---------------------------------------------------------------------------

    async def _configure(self, doc_id: str) -> None:
        """Persistent, hidden, members-only with accounts on, real JIDs for owners only."""
        room = self.rooms.jid_of(doc_id)
        restricted = self.members_of is not None
        current = await self.rooms.muc.get_room_config(room, timeout=10)
        wanted: dict[str, Any] = {
            "muc#roomconfig_roomname": f"Chat: {self.titles.get(doc_id) or doc_id}"[:100],
            "muc#roomconfig_roomdesc": f"Beside the document '{doc_id}'",
            "muc#roomconfig_persistentroom": True,
            "muc#roomconfig_publicroom": not restricted,
            "muc#roomconfig_membersonly": restricted,
            "muc#roomconfig_allowinvites": False,
            "muc#roomconfig_moderatedroom": False,
            "muc#roomconfig_whois": "moderators",
            "muc#roomconfig_changesubject": False,
            "muc#roomconfig_historylength": str(CHAT_HISTORY),
        }
        fields = current.get_fields()
        form = self.xmpp.plugin["xep_0004"].make_form(ftype="submit")  # type: ignore[no-untyped-call]
        form.add_field(var="FORM_TYPE", ftype="hidden", value=CONFIG_FORM)
        for var, value in wanted.items():
            field = fields.get(var)
            if field is None:
                continue  # not offered by this server (ejabberd has no history length)
            kind = field["type"]
            if kind == "boolean":
                value = "1" if value else "0"
            form.add_field(var=var, ftype=kind, value=value)
        await self.rooms.muc.set_room_config(room, form, timeout=10)

    async def mirror(self, doc_id: str) -> None:
        """Make the room's member list the document's members' XMPP identities."""
        if self.members_of is None:
            return
        room = self.rooms.jid_of(doc_id)
        members = await self.members_of(doc_id)
        target = {normalized(jid) for jid in members} - {self.me}
        current = {
            normalized(str(jid))
            for jid in await self.rooms.muc.get_affiliation_list(room, "member", timeout=10)
        }
        changes: list[tuple[str, str]] = [(jid, "member") for jid in sorted(target - current)]
        changes += [(jid, "none") for jid in sorted(current - target - {self.me})]
        if changes:
            await self.rooms.muc.send_affiliation_list(room, changes, timeout=10)
            log.info("chat room of %s: affiliations %s", doc_id, changes)

    def _heard(self, lines: list[ChatLine]) -> None:
        if self.host is None or not lines:
            return
        doc_id = lines[0].doc_id
        history = lines[0].history
        if not history:  # (a history is bounded by the room: 100 lines)
            bucket = self._heard_rate.setdefault(doc_id, TokenBucket(HEARD_PER_SECOND, HEARD_BURST))
            kept = [line for line in lines if line.mine or bucket.take()]
            if len(kept) < len(lines):
                self.dropped += len(lines) - len(kept)
                log.log(
                    logging.WARNING if self.dropped <= 10 else logging.DEBUG,
                    "chat room of %s: more than %g lines a second; dropped (%d so far)",
                    doc_id,
                    HEARD_PER_SECOND,
                    self.dropped,
                )
            lines = kept
        messages = [self._message(line) for line in lines if not line.mine]
        if messages:
            self._spawn(self.host.chat_heard(doc_id, messages, history=history))

    def _message(self, line: ChatLine) -> ChatMessage:
        relayed = line.relayed
        if relayed is not None and self._from_instance(line):
            name = relayed["name"] or line.nick
            text = line.text
            if text.startswith(f"{name}: "):
                text = text[len(name) + 2 :]
            color = relayed.get("color") or ""
            return ChatMessage(
                id=relayed["id"] or line.id,
                name=name,
                text=text,
                at=line.at,
                source="page",
                color=color if _COLOR.fullmatch(color) else "",
            )
        return ChatMessage(
            id=f"{line.nick}/{line.id}"[:128],
            name=line.nick,
            text=line.text,
            at=line.at,
            source="xmpp",
        )

    def _from_instance(self, line: ChatLine) -> bool:
        """Whether an app instance said the line, so that the name it carries is the
        writer's. The room shows us (its owner) every present occupant's real JID; a line
        of the history from an occupant that has left is taken at its nick's word (a
        ``collab-`` nick: see docs/xmpp.md, "Chat rooms", for what that allows)."""
        if line.real_jid:
            return normalized(str(JID(line.real_jid).bare)) == self.me
        return line.history and line.nick.startswith(NICK_PREFIX)


def _reason(exc: Exception) -> str:
    if isinstance(exc, IqError):
        return str(exc.iq["error"]["condition"])
    if isinstance(exc, IqTimeout):
        return "no answer"
    return str(exc)
