"""The bridge between this app instance and XMPP pubsub.

Outgoing, every committed revision is published to its document's node, in order. Publishing
runs per document and takes everything committed since its last publish, so under load
consecutive revisions share one item and the publish rate stays within what the XMPP server
sustains. Published revisions are read back from the store or the room's memory, never from
an unbounded queue: an outage costs nothing but a catch-up.

Incoming:

* revisions other instances published reach this instance's rooms and, through them, its
  WebSocket clients;
* bots' edits published to a document's inbox are sequenced like a browser's;
* snapshot requests are answered on the snapshot node.

Each instance subscribes with its full JID to the nodes of the documents it has open. The
inbox nodes are subscribed by the service account's bare JID, so every instance hears every
bot; the store's operation-id key makes each edit land once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from slixmpp import JID, Message

from app.config import Settings
from app.errors import AppError
from app.metrics import Metrics
from app.rooms import Room, RoomRegistry
from app.store import Store
from app.xmpp.prosody import XmppAccount
from sync import errors as sync_errors
from sync.protocol import Revision, Snapshot
from sync.xmpp import stanza as st
from sync.xmpp.connection import XmppConnection, XmppState
from sync.xmpp.nodes import (
    DocumentNodes,
    RevisionAssembler,
    document_node,
    inbox_node,
    parse_node,
    payload_of,
)

log = logging.getLogger(__name__)

# Further behind than this, the node gets a snapshot rather than every missed revision.
MAX_REPUBLISH = 1000


@dataclass
class Tracked:
    """What this instance knows of one open document's node."""

    published: int | None = None  # newest revision on the node, once known
    snapshot_at: int = -1  # revision of the newest snapshot we published
    dirty: bool = True
    task: asyncio.Task[None] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # nodes exist, subscribed


class XmppBridge:
    def __init__(
        self,
        account: XmppAccount,
        *,
        resource: str,
        rooms: RoomRegistry,
        store: Store,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.account = account
        self.rooms = rooms
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.connection = XmppConnection(
            f"{account.jid}/{resource}",
            account.password,
            account.host,
            account.port,
            allow_plaintext=settings.xmpp_allow_plaintext,
            on_session=self._on_session,
        )
        self.nodes = DocumentNodes(self.connection.xmpp, account.pubsub)
        self.tracked: dict[str, Tracked] = {}
        self._assemblers: dict[str, RevisionAssembler] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        xmpp = self.connection.xmpp
        xmpp.add_event_handler("pubsub_publish", self._on_publish)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, wait: float) -> None:
        try:
            await self.connection.start(wait=wait)
        except TimeoutError:
            log.warning(
                "XMPP server %s:%d not reachable yet (%s); editing works meanwhile, and the "
                "bridge keeps trying",
                self.account.host,
                self.account.port,
                self.connection.last_error or "no answer",
            )

    async def stop(self) -> None:
        for state in self.tracked.values():
            if state.task is not None:
                state.task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.connection.stop()

    def health(self) -> tuple[str, str]:
        state = self.connection.state
        detail = f"{self.connection.xmpp.boundjid} on {self.account.host}:{self.account.port}"
        if state is XmppState.CONNECTED:
            return "ok", detail
        return "down", f"{state.value}: {self.connection.last_error or 'not connected'} ({detail})"

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_session(self) -> None:
        # After every (re)connection: subscribe again, publish what was committed while we
        # were away, and fold in what other instances published meanwhile (_prepare does
        # all three).
        for doc_id in list(self.rooms.rooms):
            state = self.tracked.setdefault(doc_id, Tracked())
            state.ready.clear()
            state.published = None
            state.dirty = True
            self._spawn(self._prepare(doc_id))

    # -- room events ----------------------------------------------------------------------

    def room_loaded(self, room: Room) -> None:
        self.tracked[room.doc_id] = Tracked()
        self._spawn(self._prepare(room.doc_id))

    def room_unloaded(self, doc_id: str) -> None:
        state = self.tracked.pop(doc_id, None)
        if state is not None and state.task is not None and not state.task.done():
            # Finish publishing what was committed, then let go of the node.
            state.task.add_done_callback(lambda _: self._spawn(self._unsubscribe(doc_id)))
        else:
            self._spawn(self._unsubscribe(doc_id))

    def revision_committed(self, room: Room, revision: Revision) -> None:
        state = self.tracked.setdefault(room.doc_id, Tracked())
        state.dirty = True
        self._kick(room.doc_id, state)

    async def document_created(self, doc_id: str, title: str, snapshot: Snapshot) -> None:
        """Make a new document's nodes and publish its first snapshot."""
        if not self.connection.connected:
            return  # made when the document is first opened
        try:
            await self.nodes.ensure(doc_id, title=title)
            await self.nodes.subscribe(inbox_node(doc_id), bare=True)
            await self.nodes.publish_snapshot(doc_id, snapshot)
        except sync_errors.BridgeError as exc:
            log.warning("could not set up the nodes of %s: %s", doc_id, exc)

    async def document_deleted(self, doc_id: str) -> None:
        """Delete a document's nodes; their subscribers (bots) are told."""
        self.tracked.pop(doc_id, None)
        if not self.connection.connected:
            return
        try:
            await self.nodes.delete(doc_id)
        except sync_errors.BridgeError as exc:
            log.warning("could not delete the nodes of %s: %s", doc_id, exc)

    # -- publishing -----------------------------------------------------------------------

    async def _prepare(self, doc_id: str) -> None:
        state = self.tracked.get(doc_id)
        if state is None or not self.connection.connected:
            return
        room = self.rooms.rooms.get(doc_id)
        try:
            await self.nodes.ensure(doc_id, title=room.title if room else "")
            await self.nodes.subscribe(inbox_node(doc_id), bare=True)
            await self.nodes.subscribe(document_node(doc_id), bare=False)
        except sync_errors.BridgeError as exc:
            log.warning("could not prepare the nodes of %s: %s", doc_id, exc)
        else:
            state.ready.set()
        # Revisions other instances committed before we listened (while we loaded, or while
        # the connection was down) were published unheard: read them from the store.
        if room is not None:
            await room.refresh()
        if state.ready.is_set():
            self._kick(doc_id, state)

    async def _unsubscribe(self, doc_id: str) -> None:
        if doc_id in self.tracked or not self.connection.connected:
            return  # reopened meanwhile, or nothing to undo
        with contextlib.suppress(sync_errors.BridgeError):
            await self.nodes.unsubscribe(document_node(doc_id), bare=False)

    def _kick(self, doc_id: str, state: Tracked) -> None:
        if state.task is None or state.task.done():
            state.task = asyncio.get_running_loop().create_task(self._publish_loop(doc_id, state))

    async def _publish_loop(self, doc_id: str, state: Tracked) -> None:
        while state.dirty and self.connection.connected and state.ready.is_set():
            state.dirty = False
            try:
                await self._publish_pending(doc_id, state)
            except sync_errors.BridgeError as exc:
                log.warning("publishing %s failed: %s; retrying on reconnect", doc_id, exc)
                state.dirty = True
                return
            except (AppError, sync_errors.SyncError) as exc:
                log.warning("publishing %s stopped: %s", doc_id, exc)
                return

    async def _publish_pending(self, doc_id: str, state: Tracked) -> None:
        room = self.rooms.rooms.get(doc_id)
        if room is None:
            return
        head = room.sequencer.rev
        if state.published is None:
            state.published = await self._node_head(doc_id)
        if head - state.published > MAX_REPUBLISH:
            # Too far behind (an old document, a long outage): one snapshot says it all.
            await self._publish_snapshot(doc_id, room, state)
            state.published = state.snapshot_at
            return
        while state.published < head:
            revisions = await self._revisions_after(room, state.published, head)
            if not revisions:
                return
            items = await self.nodes.publish_revisions(doc_id, revisions)
            log.debug(
                "published %s r%d-r%d in %d item(s)",
                doc_id,
                revisions[0].rev,
                revisions[-1].rev,
                items,
            )
            state.published = revisions[-1].rev
        every = self.settings.snapshot_every
        if state.published // every > max(state.snapshot_at, 0) // every:
            await self._publish_snapshot(doc_id, room, state)

    async def _revisions_after(self, room: Room, since: int, head: int) -> list[Revision]:
        if since >= room.sequencer.oldest_base:
            result = room.sequencer.catch_up(since)
            if isinstance(result, list):
                return [r for r in result if r.rev <= head][:500]
        return await self.store.revisions_after(room.doc_id, since, min(500, head - since))

    async def _publish_snapshot(self, doc_id: str, room: Room, state: Tracked) -> None:
        snapshot = room.sequencer.snapshot()
        await self.nodes.publish_snapshot(doc_id, snapshot)
        state.snapshot_at = snapshot.rev

    async def _node_head(self, doc_id: str) -> int:
        """The newest revision already on the document's node (0 if none)."""
        ids = await self.nodes.item_ids(document_node(doc_id))
        heads = (item_id.split(".", 1)[0] for item_id in ids)
        revs = [int(head) for head in heads if head.isascii() and head.isdigit()]
        return max(revs, default=0)

    # -- incoming -------------------------------------------------------------------------

    def _on_publish(self, message: Message) -> None:
        items = message["pubsub_event"]["items"]
        parsed = parse_node(items["node"])
        if parsed is None:
            return
        doc_id, kind = parsed
        item = items["item"]
        payload = payload_of(item)
        if kind == "revisions":
            room = self.rooms.rooms.get(doc_id)
            if room is None:
                return
            try:
                revisions = self._assemblers.setdefault(doc_id, RevisionAssembler()).feed(payload)
            except sync_errors.SyncError as exc:
                log.warning("ignoring a bad item on %s: %s", items["node"], exc)
                return
            if revisions:
                self._spawn(room.apply_remote(revisions))
        elif kind == "inbox" and isinstance(payload, st.EditStanza):
            self._spawn(self._handle_edit(doc_id, payload, item["publisher"]))
        elif kind == "inbox" and isinstance(payload, st.SnapshotRequestStanza):
            self._spawn(self._answer_snapshot_request(doc_id))

    async def _handle_edit(self, doc_id: str, payload: st.EditStanza, publisher: JID) -> None:
        try:
            edit, author = st.edit_from_stanza(payload)
        except sync_errors.SyncError as exc:
            log.info("bad edit from %s on %s: %s", publisher, doc_id, exc)
            return
        try:
            async with self.rooms.holding(doc_id) as room:
                await room.submit(edit, author)
        except (sync_errors.SyncError, AppError) as exc:
            self.metrics.edit_errors.labels(exc.code).inc()
            if publisher:
                self._send_edit_error(
                    publisher, doc_id, edit.op_id.client, edit.op_id.seq, exc.code, str(exc)
                )

    def _send_edit_error(
        self, to: JID, doc_id: str, client: str, seq: int, code: str, text: str
    ) -> None:
        # A body too: Prosody does not deliver a body-less message sent to a bare JID, and a
        # person using an ordinary client as a bot sees why the edit failed.
        message = self.connection.xmpp.make_message(
            mto=to, mtype="normal", mbody=f"Edit {client}:{seq} to '{doc_id}' was refused: {text}"
        )
        error = st.EditErrorStanza()
        error["doc"] = doc_id
        error["client"] = client
        error["seq"] = str(seq)
        error["code"] = code
        error["body"] = text
        message.append(error)
        message.send()

    async def _answer_snapshot_request(self, doc_id: str) -> None:
        try:
            async with self.rooms.holding(doc_id) as room:
                state = self.tracked.setdefault(doc_id, Tracked())
                await self._publish_snapshot(doc_id, room, state)
        except (sync_errors.SyncError, AppError) as exc:
            log.info("snapshot request for %s not answered: %s", doc_id, exc)
