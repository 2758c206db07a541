"""The bridge between this app instance and XMPP pubsub.

Outgoing, every committed revision is published to its document's node, in order. Publishing
runs per document and takes everything committed since its last publish, so under load
consecutive revisions share one item and the publish rate stays within what the XMPP server
sustains. Published revisions are read back from the store or the room's memory, never from
an unbounded queue: an outage costs nothing but a catch-up.

Presence and renames go out on the document's live node, from one background task that
sends only the newest news per person when several pile up (and holds them through an
outage). A deletion is the server's node-delete notification.

Incoming:

* revisions other instances published reach this instance's rooms and, through them, its
  WebSocket clients;
* people, renames and deletions from other instances reach the rooms too;
* bots' edits published to a document's inbox are sequenced like a browser's;
* snapshot requests are answered on the snapshot node.

Each instance subscribes with its full JID to the revision and live nodes of the documents it
has open, and skips the items it published itself (their ``origin`` is its full JID). The
inbox nodes are subscribed by the service account's bare JID, so every instance hears every
bot; the store's operation-id key makes each edit land once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slixmpp import JID, Message
from slixmpp.xmlstream import ElementBase

from app.buses.xmpp.prosody import XmppAccount
from app.config import Settings
from app.core.bus import BusHost, BusState, PresenceEvent
from app.core.errors import AppError
from app.metrics import Metrics
from sdk.xmpp import stanza as st
from sdk.xmpp.connection import XmppConnection, XmppState
from sdk.xmpp.nodes import (
    DocumentNodes,
    RevisionAssembler,
    document_node,
    inbox_node,
    live_node,
    parse_node,
    payload_of,
)
from sync import errors as sync_errors
from sync.protocol import Revision, Snapshot

log = logging.getLogger(__name__)

# Further behind than this, the node gets a snapshot rather than every missed revision.
MAX_REPUBLISH = 1000


@dataclass
class Tracked:
    """What this instance knows of one open document's node."""

    published: int | None = None  # newest revision on the node, once known
    head: int = 0  # newest revision committed here, as far as we were told
    snapshot_at: int = -1  # revision of the newest snapshot we published
    dirty: bool = True
    task: asyncio.Task[None] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # nodes exist, subscribed


class XmppBridge:
    """``RevisionBus`` over XEP-0060 pubsub."""

    def __init__(
        self,
        account: XmppAccount,
        *,
        resource: str,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.account = account
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
        self._host: BusHost | None = None
        # Waiting for the live nodes: the newest news per document (per person, for presence).
        self._presence_out: dict[str, dict[str, PresenceEvent]] = {}
        self._titles_out: dict[str, str] = {}
        self._live_task: asyncio.Task[None] | None = None
        self._deletions_out: set[str] = set()  # deleted while disconnected
        xmpp = self.connection.xmpp
        xmpp.add_event_handler("pubsub_publish", self._on_publish)
        xmpp.add_event_handler("pubsub_delete", self._on_delete)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def host(self) -> BusHost:
        if self._host is None:
            raise RuntimeError("the XMPP bridge is not started")
        return self._host

    async def start(self, host: BusHost) -> None:
        if self._host is not None:
            raise RuntimeError("the XMPP bridge is already running")
        self._host = host
        try:
            await self.connection.start(wait=self.settings.xmpp_connect_timeout)
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
        if self._live_task is not None:
            self._live_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.connection.stop()

    def health(self) -> tuple[BusState, str]:
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
        for doc_id in self.host.open_documents():
            state = self.tracked.setdefault(doc_id, Tracked())
            state.ready.clear()
            state.published = None
            state.dirty = True
            self._spawn(self._prepare(doc_id))
        for doc_id in list(self._deletions_out):
            self._spawn(self._delete_nodes(doc_id))
        self._kick_live()

    # -- RevisionBus ----------------------------------------------------------------------

    async def subscribe(self, doc_id: str) -> None:
        self.tracked[doc_id] = Tracked()
        await self._prepare(doc_id)

    async def unsubscribe(self, doc_id: str) -> None:
        state = self.tracked.pop(doc_id, None)
        if state is not None and state.task is not None and not state.task.done():
            # Finish publishing what was committed, then let go of the node.
            with contextlib.suppress(Exception):
                await asyncio.shield(state.task)
        await self._unsubscribe(doc_id)

    def publish(self, doc_id: str, revisions: Sequence[Revision]) -> None:
        if not revisions:
            return
        state = self.tracked.setdefault(doc_id, Tracked())
        state.head = max(state.head, revisions[-1].rev)
        state.dirty = True
        self._kick(doc_id, state)

    def relay_presence(self, doc_id: str, event: PresenceEvent) -> None:
        session = event.person.get("session")
        if not isinstance(session, str):
            return
        pending = self._presence_out.setdefault(doc_id, {})
        earlier = pending.pop(session, None)
        kind = event.event
        if earlier is not None and earlier.event == "join":
            if kind == "leave":
                # Came and went before anyone heard: nothing to tell.
                if not pending:
                    del self._presence_out[doc_id]
                return
            kind = "join"  # the others have not heard the join yet
        pending[session] = PresenceEvent(kind, dict(event.person))
        self._kick_live()

    async def document_renamed(self, doc_id: str, title: str) -> None:
        self._titles_out[doc_id] = title
        self._kick_live()

    async def document_created(self, doc_id: str, title: str, snapshot: Snapshot) -> None:
        """Make a new document's nodes and publish its first snapshot."""
        self._deletions_out.discard(doc_id)  # a new document under a deleted one's id
        if not self.connection.connected:
            return  # made when the document is first opened
        try:
            await self.nodes.ensure(doc_id, title=title)
            await self.nodes.subscribe(inbox_node(doc_id), bare=True)
            await self.nodes.publish_snapshot(doc_id, snapshot)
        except sync_errors.BridgeError as exc:
            log.warning("could not set up the nodes of %s: %s", doc_id, exc)

    async def document_deleted(self, doc_id: str) -> None:
        """Delete a document's nodes; their subscribers (instances, bots) are told."""
        self._forget(doc_id)  # first: the server tells us too, if we still listen
        self._titles_out.pop(doc_id, None)
        self._presence_out.pop(doc_id, None)
        self._deletions_out.add(doc_id)  # until done: after a reconnect, if need be
        if self.connection.connected:
            await self._delete_nodes(doc_id)

    async def _delete_nodes(self, doc_id: str) -> None:
        try:
            await self.nodes.delete(doc_id)
        except sync_errors.BridgeError as exc:
            log.warning("could not delete the nodes of %s: %s", doc_id, exc)
            if exc.condition != "timeout":
                self._deletions_out.discard(doc_id)  # refused: retrying will not help
        else:
            self._deletions_out.discard(doc_id)

    def _forget(self, doc_id: str) -> None:
        state = self.tracked.pop(doc_id, None)
        if state is not None and state.task is not None:
            state.task.cancel()
        self._assemblers.pop(doc_id, None)

    # -- publishing -----------------------------------------------------------------------

    async def _prepare(self, doc_id: str) -> None:
        state = self.tracked.get(doc_id)
        if state is None or not self.connection.connected:
            return
        try:
            await self.nodes.ensure(doc_id, title=self.host.title_of(doc_id))
            # Sent together, handled in this order: once revisions are heard, so are people.
            await asyncio.gather(
                self.nodes.subscribe(inbox_node(doc_id), bare=True),
                self.nodes.subscribe(live_node(doc_id), bare=False),
                self.nodes.subscribe(document_node(doc_id), bare=False),
            )
        except sync_errors.BridgeError as exc:
            log.warning("could not prepare the nodes of %s: %s", doc_id, exc)
        else:
            state.ready.set()
        # Revisions other instances committed before we listened (while we loaded, or while
        # the connection was down) were published unheard: read them from the store.
        await self.host.caught_up(doc_id)
        if state.ready.is_set():
            self._kick(doc_id, state)

    async def _unsubscribe(self, doc_id: str) -> None:
        if doc_id in self.tracked or not self.connection.connected:
            return  # reopened meanwhile, or nothing to undo
        for node in (document_node(doc_id), live_node(doc_id)):
            with contextlib.suppress(sync_errors.BridgeError):
                await self.nodes.unsubscribe(node, bare=False)

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
        # What we committed, and what the room holds: an instance that died before
        # publishing its last revisions left them to whoever opens the document next.
        head = max(state.head, self.host.head_of(doc_id))
        if state.published is None:
            state.published = await self._node_head(doc_id)
        if head - state.published > MAX_REPUBLISH:
            # Too far behind (an old document, a long outage): one snapshot says it all.
            await self._publish_snapshot(doc_id, state)
            state.published = state.snapshot_at
            return
        while state.published < head:
            revisions = await self._revisions_after(doc_id, state.published, head)
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
            await self._publish_snapshot(doc_id, state)

    async def _revisions_after(self, doc_id: str, since: int, head: int) -> list[Revision]:
        revisions = await self.host.revisions_after(doc_id, since, min(500, head - since))
        return [r for r in revisions if r.rev <= head]

    async def _publish_snapshot(self, doc_id: str, state: Tracked) -> None:
        snapshot = await self.host.snapshot(doc_id)
        await self.nodes.publish_snapshot(doc_id, snapshot)
        state.snapshot_at = snapshot.rev

    async def _node_head(self, doc_id: str) -> int:
        """The newest revision already on the document's node (0 if none)."""
        ids = await self.nodes.item_ids(document_node(doc_id))
        heads = (item_id.split(".", 1)[0] for item_id in ids)
        revs = [int(head) for head in heads if head.isascii() and head.isdigit()]
        return max(revs, default=0)

    # -- the live nodes ---------------------------------------------------------------------

    def _kick_live(self) -> None:
        idle = self._live_task is None or self._live_task.done()
        if idle and self.connection.connected and (self._presence_out or self._titles_out):
            self._live_task = asyncio.get_running_loop().create_task(self._send_live())

    async def _send_live(self) -> None:
        # One at a time, oldest document first: news that piles up meanwhile is coalesced
        # in the outboxes, so a burst of cursor moves costs one publish per person.
        while self.connection.connected:
            work: Awaitable[None]
            if self._titles_out:
                doc_id, title = next(iter(self._titles_out.items()))
                del self._titles_out[doc_id]
                what, work = "rename", self.nodes.publish_renamed(doc_id, title)
            elif self._presence_out:
                doc_id, pending = next(iter(self._presence_out.items()))
                session, event = next(iter(pending.items()))
                del pending[session]
                if not pending:
                    del self._presence_out[doc_id]
                what = f"presence of {session}"
                work = self.nodes.publish_presence(doc_id, event.event, event.person)
            else:
                return
            try:
                await work
            except sync_errors.BridgeError as exc:
                # News is worth little later: dropped. (No live node means nobody listens.)
                log.info("%s on %s not relayed: %s", what, doc_id, exc)

    # -- incoming -------------------------------------------------------------------------

    def _mine(self, payload: ElementBase | None) -> bool:
        return payload is not None and st.origin_of(payload) == self.nodes.origin

    def _on_publish(self, message: Message) -> None:
        items = message["pubsub_event"]["items"]
        parsed = parse_node(items["node"])
        if parsed is None:
            return
        doc_id, kind = parsed
        item = items["item"]
        payload = payload_of(item)
        if kind == "revisions":
            if doc_id not in self.tracked or self._mine(payload):
                return
            try:
                revisions = self._assemblers.setdefault(doc_id, RevisionAssembler()).feed(payload)
            except sync_errors.SyncError as exc:
                log.warning("ignoring a bad item on %s: %s", items["node"], exc)
                return
            if revisions:
                self._spawn(self.host.revisions_heard(doc_id, revisions))
        elif kind == "live":
            if doc_id in self.tracked and not self._mine(payload):
                self._on_live(doc_id, payload)
        elif kind == "inbox" and isinstance(payload, st.EditStanza):
            self._spawn(self._handle_edit(doc_id, payload, item["publisher"]))
        elif kind == "inbox" and isinstance(payload, st.SnapshotRequestStanza):
            self._spawn(self._answer_snapshot_request(doc_id))

    def _on_live(self, doc_id: str, payload: ElementBase | None) -> None:
        try:
            if isinstance(payload, st.PresenceStanza):
                kind, person, origin = st.presence_from_stanza(payload)
                event = PresenceEvent(kind, person, origin)
                self._spawn(self.host.presence_heard(doc_id, event))
            elif isinstance(payload, st.RenamedStanza):
                title, _origin = st.renamed_from_stanza(payload)
                self._spawn(self.host.renamed_heard(doc_id, title))
        except sync_errors.SyncError as exc:
            log.warning("ignoring a bad item on %s: %s", live_node(doc_id), exc)

    def _on_delete(self, message: Message) -> None:
        parsed = parse_node(message["pubsub_event"]["delete"]["node"])
        if parsed is None or parsed[1] != "revisions":
            return  # each node's deletion would say the same; the revision node's suffices
        doc_id = parsed[0]
        if doc_id not in self.tracked:
            return  # not open here, or our own deletion (document_deleted forgot it first)
        self._forget(doc_id)
        self._spawn(self.host.deleted_heard(doc_id))

    async def _handle_edit(self, doc_id: str, payload: st.EditStanza, publisher: JID) -> None:
        try:
            edit, author = st.edit_from_stanza(payload)
        except sync_errors.SyncError as exc:
            log.info("bad edit from %s on %s: %s", publisher, doc_id, exc)
            return
        try:
            await self.host.edit_heard(doc_id, edit, author)
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
            state = self.tracked.setdefault(doc_id, Tracked())
            await self._publish_snapshot(doc_id, state)
        except (sync_errors.SyncError, AppError) as exc:
            log.info("snapshot request for %s not answered: %s", doc_id, exc)
