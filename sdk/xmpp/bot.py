"""The bot SDK: follow a document, and edit it, over XMPP alone.

A :class:`DocumentBot` logs in to an XMPP account, starts from the document's snapshot node,
follows its revision node (verifying every checksum), and can submit edits by publishing them
to the document's inbox node. Edits are sequenced like a browser's: the bot runs the same
:class:`~sync.client.SyncClient` state machine, with the same operation-id deduplication, and
its own edits come back to it as revisions (its acknowledgements). No HTTP is involved.

    async with DocumentBot(jid, password, "q3-plan", host="127.0.0.1", port=5222) as bot:
        await bot.wait_synced()
        print(bot.text)
        bot.on_revision(lambda revision, mine: print(revision.rev, revision.author))
        await bot.replace(len(bot.text), 0, "\\nHello from a bot")
        await bot.wait_synced()

After an outage the bot reconnects (trying again every few seconds at most), reads what it
missed from the nodes' items without waiting for the next edit, logs that it is back and tells
the ``on_online`` listeners. An edit the app refuses (too big, too fast, not applicable) is
logged and given to the ``on_error`` listeners; one refused as rate-limited is sent again.

Everything the bot needs from the server is in docs/xmpp.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from slixmpp import JID, Message
from slixmpp.xmlstream import ElementBase

from sdk.xmpp import stanza as st
from sdk.xmpp import wire
from sdk.xmpp.chat import ChatDenied, ChatLine, ChatRooms
from sdk.xmpp.connection import XmppConnection, XmppState
from sdk.xmpp.nodes import (
    DocumentNodes,
    RevisionAssembler,
    document_node,
    live_node,
    parse_node,
    payload_of,
    revision_payload,
    snapshot_node,
)
from sync import ops
from sync.client import ClientState, SyncClient
from sync.errors import BridgeError, SyncError
from sync.protocol import (
    ClientMessage,
    Edit,
    EditError,
    OpId,
    Resync,
    Revision,
    Snapshot,
    Synced,
)

log = logging.getLogger(__name__)

RevisionListener = Callable[[Revision, bool], object]
OnlineListener = Callable[[int], object]  # the revision the bot caught up to
ErrorListener = Callable[[EditError], object]
ChatListener = Callable[[ChatLine], object]
# Refusals kept in ``errors``, newest last.
KEEP_ERRORS = 100
CHAT_RETRY_SECONDS = 1.0


class DocumentDeleted(SyncError):
    code = "document-deleted"


class AccessDenied(SyncError):
    """The XMPP server will not let this account read the document: nobody shared it with
    the bot's account (or its role was taken away)."""

    code = "forbidden"


# What a pubsub service answers an account that may not subscribe to a whitelist node.
DENIED_CONDITIONS = frozenset({"forbidden", "not-authorized", "not-allowed", "closed-node"})


class DocumentBot:
    def __init__(
        self,
        jid: str,
        password: str,
        doc_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 5222,
        pubsub: str | None = None,
        name: str = "bot",
        client_id: str | None = None,
        allow_plaintext: bool = True,
        resend_after: float = 5.0,
        app: str | None = None,
        muc: str | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.name = name
        self.connection = XmppConnection(
            jid, password, host, port, allow_plaintext=allow_plaintext, on_session=self._on_session
        )
        domain = jid.split("@", 1)[-1].split("/", 1)[0]
        self.nodes = DocumentNodes(
            self.connection.xmpp, pubsub or f"pubsub.{domain}", iqs=self.connection.iqs
        )
        self._service = JID(self.nodes.service)
        self.client = SyncClient(client_id or f"bot-{secrets.token_hex(6)}")
        self.resend_after = resend_after
        self.deleted = False
        self.denied = ""  # why the server refused to let us follow the document, if it did
        # The app's account, told (by directed presence) that this bot follows the document,
        # so the people in the page see it; learned from the app's items when not given.
        self.app = str(JID(app).bare) if app else ""
        self._listeners: list[RevisionListener] = []
        self._online_listeners: list[OnlineListener] = []
        self._error_listeners: list[ErrorListener] = []
        self.errors: list[EditError] = []  # the app's refusals of our edits, newest last
        self._offline_since: float | None = None
        self._joined = False  # subscribed in this session
        self._announce = False  # a session started; say so once caught up
        self._assembler = RevisionAssembler()
        self._started = False  # has a first snapshot or catch-up been folded in
        self._lock = asyncio.Lock()  # one catch-up or message at a time, in order
        self._synced = asyncio.Event()
        self._progress = time.monotonic()
        self._timer: asyncio.Task[None] | None = None
        xmpp = self.connection.xmpp
        # The document's chat room (sdk/xmpp/chat.py), joined once asked for (on_chat, say).
        self.chat = ChatRooms(xmpp, muc or f"conference.{domain}", name)
        self.chat.on_lines.append(self._on_chat_lines)
        self._chat_listeners: list[ChatListener] = []
        self._chat_wanted = False
        self._chat_joining: asyncio.Task[None] | None = None
        self.chat_denied = ""  # why the room would not admit the bot, if it would not
        self._revisions_node = document_node(doc_id)
        self.connection.add_fast_handler(self._on_event_fast)
        xmpp.add_event_handler("pubsub_publish", self._on_publish)
        xmpp.add_event_handler("pubsub_delete", self._on_delete)
        xmpp.add_event_handler("message", self._on_message)
        xmpp.add_event_handler("disconnected", self._on_disconnected)

    # -- the document ---------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.client.text

    @property
    def rev(self) -> int:
        return self.client.rev

    @property
    def state(self) -> XmppState:
        return self.connection.state

    def on_revision(self, listener: RevisionListener) -> None:
        """Call ``listener(revision, mine)`` for every revision folded in, in order."""
        self._listeners.append(listener)

    def on_online(self, listener: OnlineListener) -> None:
        """Call ``listener(rev)`` each time a session has started and the bot has caught up
        with what the nodes hold (at start, and when it is back after an outage)."""
        self._online_listeners.append(listener)

    def on_error(self, listener: ErrorListener) -> None:
        """Call ``listener(error)`` when the app refuses one of our edits."""
        self._error_listeners.append(listener)

    def on_chat(self, listener: ChatListener) -> None:
        """Call ``listener(line)`` for each line someone else says in the document's chat
        room from now on (not the room's history, nor the bot's own lines). ``line.name`` is
        who wrote it: a person in the page (as the app relays it), or an XMPP occupant's
        nick. The bot joins the room, under its ``name``, at once and after every reconnect;
        with accounts on, the room admits it only while it has a role on the document."""
        self._chat_listeners.append(listener)
        self._want_chat()

    async def say(self, text: str, timeout: float = 30.0) -> None:
        """Say ``text`` in the document's chat room (joining it first if need be). Raises
        ``AccessDenied`` if the room has not admitted the bot within ``timeout`` seconds
        because it has no role on the document, ``TimeoutError`` if it could not join for
        another reason."""
        self._want_chat()
        deadline = time.monotonic() + timeout
        while not self.chat.joined(self.doc_id):
            if time.monotonic() > deadline:
                if self.chat_denied:
                    raise AccessDenied(self.chat_denied)
                raise TimeoutError(f"not in the chat room of '{self.doc_id}' after {timeout} s")
            await asyncio.sleep(0.05)
        self.chat.say(self.doc_id, text)

    def _want_chat(self) -> None:
        self._chat_wanted = True
        if self.connection.connected:
            self._join_chat_soon()

    def _join_chat_soon(self) -> None:
        if self._chat_joining is None or self._chat_joining.done():
            self._chat_joining = asyncio.get_running_loop().create_task(self._join_chat())

    async def _join_chat(self) -> None:
        # Tried again every CHAT_RETRY_SECONDS until in: a room not made yet is made by the
        # app when the document is first opened there, and a role may be given meanwhile.
        while self.connection.connected and not self.chat.joined(self.doc_id):
            try:
                await self.chat.join(self.doc_id)
                self.chat_denied = ""
                return
            except ChatDenied as exc:
                if not self.chat_denied:
                    log.error("%s; share the document with the bot's account", exc)
                self.chat_denied = str(exc)
            except BridgeError as exc:
                log.info("not in the chat of '%s' yet: %s", self.doc_id, exc)
            await asyncio.sleep(CHAT_RETRY_SECONDS)

    def _on_chat_lines(self, lines: list[ChatLine]) -> None:
        for line in lines:
            if line.history or line.mine:
                continue
            for listener in list(self._chat_listeners):
                try:
                    listener(line)
                except Exception:
                    log.exception("a chat listener failed")

    async def edit(self, op: ops.Op) -> None:
        """Apply an operation on the current text and send it."""
        self.client.edit(op)
        await self._send(self.client.flush())

    async def replace(self, position: int, delete_count: int, insert: str) -> None:
        self.client.replace(position, delete_count, insert)
        await self._send(self.client.flush())

    async def append(self, text: str) -> None:
        await self.replace(len(self.client.text), 0, text)

    async def wait_synced(self, timeout: float = 30.0) -> None:
        """Until caught up with the server and every edit of ours is acknowledged."""
        deadline = time.monotonic() + timeout
        while True:
            if self.deleted:
                raise DocumentDeleted(f"document '{self.doc_id}' was deleted")
            if self.denied:
                raise AccessDenied(self.denied)
            if (
                self._started
                and self.client.state is ClientState.READY
                and not self.client.has_unconfirmed
            ):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"bot not in sync with '{self.doc_id}' after {timeout} s "
                    f"(XMPP {self.connection.state.value}, {self.client.unconfirmed_count} "
                    "unconfirmed edits)"
                )
            self._synced.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), min(remaining, 0.5))

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, timeout: float = 30.0) -> None:
        self._timer = asyncio.get_running_loop().create_task(self._resend_loop())
        await self.connection.start(wait=timeout)

    async def stop(self) -> None:
        if self.app and self.connection.connected:
            self.connection.xmpp.send_presence(pto=self.app, ptype="unavailable")
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.connection.stop()

    async def __aenter__(self) -> DocumentBot:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- XMPP side ------------------------------------------------------------------------

    async def _on_session(self) -> None:
        self._announce = True  # said once caught up
        self.chat.forget_all()  # a new session: the room must be joined again
        await self._join()
        if self._chat_wanted:
            self._join_chat_soon()

    async def _join(self) -> None:
        # Subscriptions survive reconnects on the server, but notifications sent while we
        # were away are gone: catch up from the node's items after subscribing, at once
        # (waiting for the next revision to show a gap could take forever).
        try:
            await self.nodes.subscribe(document_node(self.doc_id), bare=False)
            await self.nodes.subscribe(snapshot_node(self.doc_id), bare=False)
        except BridgeError as exc:
            # A server still busy after a restart, or an account without a role yet: the
            # timer tries again (a role can be given while we wait).
            self._joined = False
            if exc.condition in DENIED_CONDITIONS:
                if not self.denied:
                    log.error(
                        "%s may not follow '%s' (%s): share the document with the bot's "
                        "account (collab bots create, or the document's sharing)",
                        self.connection.xmpp.boundjid.bare,
                        self.doc_id,
                        exc,
                    )
                self.denied = f"{self.connection.xmpp.boundjid.bare} may not read '{self.doc_id}'"
            else:
                log.warning("could not follow '%s': %s; trying again shortly", self.doc_id, exc)
            return
        self.denied = ""
        self._joined = True
        # Roll calls come on the live node (an instance that just opened the document asks
        # who is here, and we say so again); without it we are only listed a little later.
        try:
            await self.nodes.subscribe(live_node(self.doc_id), bare=False)
        except BridgeError as exc:
            log.info("not following roll calls on '%s': %s", self.doc_id, exc)
        self._say_following()
        async with self._lock:
            await self._process(self.client.connect())

    def _say_online(self) -> None:
        sessions = self.connection.sessions
        if sessions > 1:
            away = ""
            if self._offline_since is not None:
                away = f" after {time.monotonic() - self._offline_since:.1f} s away"
            log.info(
                "bot %s is back on '%s'%s (session %d), at r%d",
                self.connection.xmpp.boundjid,
                self.doc_id,
                away,
                sessions,
                self.client.rev,
            )
        self._offline_since = None
        for listener in list(self._online_listeners):
            try:
                listener(self.client.rev)
            except Exception:
                log.exception("an online listener failed")

    def _on_disconnected(self, _reason: object) -> None:
        if self._offline_since is None:
            self._offline_since = time.monotonic()

    def _on_publish(self, message: Message) -> None:
        items = message["pubsub_event"]["items"]
        parsed = parse_node(items["node"])
        if parsed is None or parsed[0] != self.doc_id:
            return
        if message["from"] != self._service:
            # Events come from the pubsub service; anyone can send us a look-alike.
            log.warning("ignoring a pubsub event from %s, not %s", message["from"], self._service)
            return
        self._on_item(parsed[1], payload_of(items["item"]), items["node"])

    def _on_event_fast(self, stanza: ET.Element) -> bool:
        """This document's revision events, read from the parsed element before slixmpp
        builds stanza objects for them (sdk/xmpp/wire.py): a bot following a busy document
        receives one per revision. Anything else goes on to ``_on_publish``."""
        event = wire.event_items(stanza, self.nodes.service)
        if event is None or event[0] != self._revisions_node:
            return False
        payloads = [revision_payload(payload) for _, payload in event[1]]
        if any(payload is None for payload in payloads):
            return False
        for payload in payloads:
            self._on_item("revisions", payload, event[0])
        return True

    def _on_item(self, kind: str, payload: ElementBase | None, node: str) -> None:
        """One item of this document's nodes, from the pubsub service."""
        origin = st.origin_of(payload) if payload is not None else ""
        if origin and not self.app:
            self.app = str(JID(origin).bare)  # the app's own items name it
            self._say_following()
        if kind == "live":
            if isinstance(payload, st.RollCallStanza):
                self._say_following()
            return
        if kind == "revisions":
            try:
                revisions = self._assembler.feed(payload)
            except SyncError as exc:
                log.warning("ignoring a bad revision item on %s: %s", node, exc)
                return
            if revisions:
                asyncio.get_running_loop().create_task(self._receive_all(revisions))
        elif kind == "snapshot" and not self._started:
            # We asked for a snapshot that did not exist yet; it is here now.
            asyncio.get_running_loop().create_task(self._retry_catch_up())
        elif kind == "snapshot" and payload is not None:
            # A snapshot ahead of us, with no revision to say how we got behind (the node
            # had no history to publish): catch up, rather than wait for the next edit.
            rev = payload.xml.get("rev") or ""
            if rev.isascii() and rev.isdigit() and int(rev) > self.client.rev:
                asyncio.get_running_loop().create_task(self._catch_up_to(int(rev)))

    def _say_following(self) -> None:
        """Directed presence to the app's account: the people in the page see this bot."""
        if not self.app or not self._joined or not self.connection.connected:
            return
        presence = self.connection.xmpp.make_presence(pto=self.app)
        presence.append(st.follow_stanza(self.doc_id, self.name))
        presence.send()

    def _on_delete(self, message: Message) -> None:
        parsed = parse_node(message["pubsub_event"]["delete"]["node"])
        if parsed is not None and parsed[0] == self.doc_id:
            self.deleted = True
            self._synced.set()

    def _on_message(self, message: Message) -> None:
        if message.xml.find(f"{{{st.NS}}}edit-error") is None:
            return
        error = message["collab_edit_error"]
        try:
            op_id = OpId(error.str_attr("client"), error.int_attr("seq"))
        except SyncError:
            return
        if error.xml.get("doc") != self.doc_id or op_id.client != self.client.client_id:
            return
        failure = EditError(op_id, error.str_attr("code"), error["body"])
        log.warning("edit %s refused (%s): %s", op_id, failure.code, failure.message)
        self.errors = [*self.errors[-(KEEP_ERRORS - 1) :], failure]
        for listener in list(self._error_listeners):
            try:
                listener(failure)
            except Exception:
                log.exception("an error listener failed")
        asyncio.get_running_loop().create_task(self._receive_all([failure]))

    async def _receive_all(self, messages: list[Any]) -> None:
        async with self._lock:
            for message in messages:
                if (
                    isinstance(message, Revision)
                    and self._started
                    and message.rev == self.client.rev + 1
                ):
                    self._notify(message)
                await self._process(self.client.receive(message))

    async def _retry_catch_up(self) -> None:
        async with self._lock:
            if not self._started:
                await self._process(self.client.connect())

    async def _catch_up_to(self, rev: int) -> None:
        await asyncio.sleep(0.5)  # revisions published with the snapshot come first
        async with self._lock:
            if self.client.rev < rev and self.client.state is ClientState.READY:
                await self._process(self.client.connect())

    async def _process(self, outgoing: list[ClientMessage]) -> None:
        """Carry out what the client engine wants sent. Runs under ``_lock``."""
        queue = list(outgoing)
        while queue:
            message = queue.pop(0)
            if isinstance(message, Edit):
                await self._send([message])
            elif isinstance(message, Resync):
                try:
                    queue.extend(await self._catch_up(message))
                except BridgeError as exc:
                    # The engine still wants its catch-up: the timer asks again.
                    log.warning(
                        "could not catch up on '%s': %s; trying again shortly", self.doc_id, exc
                    )
                    return
        self._progress = time.monotonic()
        self._synced.set()
        if self._announce and self._started and self.client.state is ClientState.READY:
            self._announce = False
            self._say_online()

    async def _catch_up(self, request: Resync) -> list[ClientMessage]:
        """Answer the engine's resync from the nodes' items, as the server would."""
        if not request.full and self._started:
            revisions = await self.nodes.revisions_after(self.doc_id, request.since)
            contiguous = all(r.rev == request.since + i + 1 for i, r in enumerate(revisions))
            if contiguous:
                return self._feed(revisions)
        snapshot = await self.nodes.latest_snapshot(self.doc_id)
        if snapshot is None or snapshot.rev < request.since:
            await self.nodes.request_snapshot(self.doc_id)
            return []  # the snapshot notification resumes the catch-up
        later = await self.nodes.revisions_after(self.doc_id, snapshot.rev)
        mine = [
            r.op_id.seq
            for r in await self.nodes.revisions_after(self.doc_id, max(request.since, 0))
            if r.op_id.client == self.client.client_id and r.rev <= snapshot.rev
        ]
        out = self.client.receive(
            Snapshot(snapshot.rev, snapshot.text, snapshot.checksum, max(mine, default=0))
        )
        self._started = True
        contiguous = all(r.rev == snapshot.rev + i + 1 for i, r in enumerate(later))
        return out + (self._feed(later) if contiguous else [])

    def _feed(self, revisions: list[Revision]) -> list[ClientMessage]:
        out: list[ClientMessage] = []
        for revision in revisions:
            if revision.rev == self.client.rev + 1 and self._started:
                self._notify(revision)
            out.extend(self.client.receive(revision))
        out.extend(self.client.receive(Synced(self.client.rev)))
        self._started = True
        return out

    def _notify(self, revision: Revision) -> None:
        mine = revision.op_id.client == self.client.client_id
        for listener in list(self._listeners):
            try:
                result = listener(revision, mine)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:
                log.exception("a revision listener failed")

    async def _send(self, edits: list[ClientMessage]) -> None:
        for edit in edits:
            if not isinstance(edit, Edit):
                continue
            if self.connection.state is not XmppState.CONNECTED:
                return  # resent after reconnecting
            try:
                await self.nodes.publish_edit(self.doc_id, edit, self.name)
            except BridgeError as exc:
                log.warning("could not send edit %s: %s", edit.op_id, exc)

    async def _resend_loop(self) -> None:
        # The server answers every edit; silence means a lost stanza or an outage.
        # So does a catch-up that failed or a snapshot request nobody answered.
        while True:
            await asyncio.sleep(self.resend_after / 2)
            if not self.connection.connected:
                continue
            if not self._joined:
                await self._join()
                continue
            quiet = time.monotonic() - self._progress > self.resend_after
            waiting = self.client.has_unconfirmed or self.client.state is ClientState.SYNCING
            if quiet and waiting:
                async with self._lock:
                    await self._process(self.client.resend())
