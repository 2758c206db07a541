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

What it hears is trusted only as far as it must be. An event is taken only from the pubsub
service itself, and a revision or live event only for a document this instance has open:
anyone on the XMPP server can send the app's account a message that looks like an event.
Bots' edits are limited per sender (its bare JID) like a WebSocket's: a rate and a size.

With accounts on (``follow_access``), the nodes admit only the document's members
(app/buses/xmpp/affiliations.py): their affiliations are made to agree when the nodes are
made, when a role changes here (``access_changed``), and when a sweep finds that the members
changed some other way (another instance, ``collab users`` on the database). An edit from
the inbox is taken only from an editor's identity, and is written under that account's name,
whatever the stanza says: the XMPP server's own check is not the only one.

After an outage (the server restarted, the connection dropped) every document's node gets
everything committed meanwhile, however much, from the last revision the node holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slixmpp import JID, Message
from slixmpp.jid import InvalidJID
from slixmpp.xmlstream import ElementBase, tostring

from app.buses.xmpp import forwarding
from app.buses.xmpp.address_claims import AddressClaims
from app.buses.xmpp.affiliations import AffiliationMirror, normalized
from app.buses.xmpp.chat import MucChat
from app.buses.xmpp.prosody import ManagedProsody, XmppAccount
from app.config import Settings
from app.core.bus import (
    BusHost,
    BusMember,
    BusState,
    Forwarded,
    ForwardFailed,
    MembersOf,
    PresenceEvent,
    RemoteRefusal,
)
from app.core.chat import ChatHost, ChatMessage
from app.core.errors import AppError, PayloadTooLarge, Refusal, Refused
from app.core.members import TokenBucket
from app.core.xmpp_links import Redeem
from app.metrics import Metrics
from sdk.xmpp import stanza as st
from sdk.xmpp import wire
from sdk.xmpp.connection import XmppConnection, XmppState
from sdk.xmpp.nodes import (
    ITEM_BUDGET,
    DocumentNodes,
    RevisionAssembler,
    document_node,
    inbox_node,
    live_node,
    parse_node,
    payload_of,
    revision_payload,
)
from sync import errors as sync_errors
from sync.protocol import Edit, Revision, Snapshot

log = logging.getLogger(__name__)

# A node with no revision at all for a document further ahead than this (an old document,
# a server whose storage was wiped) gets a snapshot rather than its whole history.
MAX_REPUBLISH = 1000
# Revisions read from the store per publish round: each round is a few items.
PUBLISH_BATCH = 500
PUBLISH_RETRY_SECONDS = 1.0
# After (re)connecting, how long other instances get to publish their own revisions before
# whatever the node still lacks is published by us.
ORPHAN_GRACE_SECONDS = 5.0
PREPARE_RETRY_SECONDS = 5.0  # a document whose nodes could not be prepared, tried again
# A connection down this long is said to the people here (a reconnect within it is not).
UNREACHABLE_AFTER_SECONDS = 2.0
# Senders whose inbox rate is remembered; the least recently heard are forgotten first.
MAX_SENDERS = 10_000


@dataclass
class Tracked:
    """What this instance knows of one open document's node."""

    published: int | None = None  # newest revision on the node, once known
    recheck: bool = False  # ask the node again (after a reconnect: the server may differ)
    head: int = 0  # newest revision committed here, as far as we were told
    # Revisions committed here and not yet published. Each instance publishes only its own:
    # the others publish theirs (publishing everything the store held made an outside
    # subscriber of a document edited on three instances get each revision three times).
    mine: set[int] = field(default_factory=set)
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
        server: ManagedProsody | None = None,
    ) -> None:
        self.account = account
        self.server = server  # the managed Prosody, if the app runs it
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
        self.nodes = DocumentNodes(self.connection.xmpp, account.pubsub, iqs=self.connection.iqs)
        self.tracked: dict[str, Tracked] = {}
        self._assemblers: dict[str, RevisionAssembler] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._host: BusHost | None = None
        # Waiting for the live nodes: the newest news per document (per person, for presence).
        self._presence_out: dict[str, dict[str, PresenceEvent]] = {}
        self._titles_out: dict[str, str] = {}
        self._roll_calls_out: set[str] = set()  # documents just opened here: who is there?
        # Open documents whose nodes could not be made or subscribed to (the reason), so
        # that nothing fans out for them: /health says so, and preparing is tried again.
        self.unprepared: dict[str, str] = {}
        self._live_task: asyncio.Task[None] | None = None
        self._deletions_out: set[str] = set()  # deleted while disconnected
        # Documents closed here with revisions not yet published (an outage): published on
        # the next session, then forgotten.
        self._left_behind: dict[str, Tracked] = {}
        self._service = JID(account.pubsub)
        self._service_address = account.pubsub  # as the server writes it, for the fast path
        self._senders: OrderedDict[str, TokenBucket] = OrderedDict()
        self._snapshots_out: set[str] = set()  # documents whose snapshot is being published
        self.dropped = 0  # events refused for their sender or their node
        # With accounts on: the nodes' affiliations follow the documents' members.
        self.mirror: AffiliationMirror | None = None
        self._access_out: set[str] = set()  # documents whose nodes must be made to agree
        self._access_task: asyncio.Task[None] | None = None
        self._access_sweep: asyncio.Task[None] | None = None
        self._members_of: MembersOf | None = None
        if server is not None:
            # Back at once when our own server is: no waiting out the reconnection backoff.
            server.on_restart.append(self.connection.retry_now)
        xmpp = self.connection.xmpp
        self.connection.add_fast_handler(self._on_event_fast)
        self.connection.add_fast_handler(self._on_forward_fast)
        xmpp.add_event_handler("pubsub_publish", self._on_publish)
        xmpp.add_event_handler("pubsub_delete", self._on_delete)
        xmpp.add_event_handler("presence_unavailable", self._on_unavailable)
        xmpp.add_event_handler("presence_available", self._on_available)
        self._identity = f"{account.jid}/{resource}"
        self._said_unreachable = False
        # Bots following documents (their directed presence), by (full JID, document).
        self._bots: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._unreachable_timer: asyncio.TimerHandle | None = None
        self.connection.on_state.append(self._on_state)
        # Each open document's chat room (XEP-0045): app/buses/xmpp/chat.py.
        domain = account.jid.split("@", 1)[-1].split("/", 1)[0]
        self.chat = MucChat(
            xmpp,
            settings.xmpp_muc or f"conference.{domain}",
            resource,
            self._spawn,
            lambda: self.connection.connected,
        )
        # People's own addresses, proven by a message from them (app/core/xmpp_links.py).
        self.address_claims = AddressClaims(
            xmpp,
            lambda: {self.chat.service, account.pubsub},
            self._spawn,
            lambda: self.connection.connected,
        )

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
        if self.mirror is not None:
            self._access_sweep = asyncio.get_running_loop().create_task(self._sweep_access())
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
        for task in (self._access_task, self._access_sweep):
            if task is not None:
                task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.connection.stop()

    def health(self) -> tuple[BusState, str]:
        report = self.report()
        parts = [str(report["state"])]
        if report["backlog"]:
            parts.append(f"publishing a backlog of {report['backlog']} revision(s)")
        if self.server is not None and self.server.state != "running":
            parts.append(f"the managed Prosody is {self.server.state}: {self.server.last_exit}")
        if self.connection.last_error and not self.connection.connected:
            parts.append(self.connection.last_error)
        if self.unprepared:
            doc_id, reason = next(iter(self.unprepared.items()))
            parts.append(
                f"no fan-out for {len(self.unprepared)} open document(s), e.g. {doc_id}: {reason}"
            )
        where = f"{self.connection.xmpp.boundjid} on {self.account.host}:{self.account.port}"
        detail = f"{'; '.join(parts)} ({where})"
        return ("ok" if self.connection.connected else "down"), detail

    def report(self) -> dict[str, str | int | float]:
        """The precise state, for /health: ``state`` is one of connected, connecting,
        reconnecting, stopped; ``backlog`` counts committed revisions not yet on their
        nodes; ``server`` is the managed Prosody's state (external when not ours)."""
        state = "reconnecting" if self.connection.reconnecting else self.connection.state.value
        return {
            "state": state,
            "since": round(self.connection.state_since, 3),
            "backlog": self.backlog(),
            "attempts": self.connection.attempts,
            "sessions": self.connection.sessions,
            "server": self.server.state if self.server is not None else "external",
            "server_restarts": self.server.restarts if self.server is not None else 0,
            "dropped_events": self.dropped,
            "documents_without_fanout": len(self.unprepared),
        }

    def backlog(self) -> int:
        """Revisions committed here (or known to the rooms here) not yet published."""
        total = 0
        for doc_id, state in [*self.tracked.items(), *self._left_behind.items()]:
            if state.published is not None:
                head = max(state.head, self.host.head_of(doc_id) if self._host else 0)
                total += max(0, head - state.published)
        return total

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
            # What we published is kept (the backlog counts from it), but the node is asked
            # again: another instance may have published meanwhile, or the server lost items.
            state.recheck = True
            state.dirty = True
            self._spawn(self._prepare(doc_id))
        for doc_id, state in list(self._left_behind.items()):
            state.recheck = True
            self._spawn(self._publish_left_behind(doc_id, state))
        for doc_id in list(self._deletions_out):
            self._spawn(self._delete_nodes(doc_id))
        self._kick_live()
        self._kick_access()

    # -- RevisionBus ----------------------------------------------------------------------

    async def subscribe(self, doc_id: str) -> None:
        self._left_behind.pop(doc_id, None)  # published from the node's head, as any open
        self.tracked[doc_id] = Tracked()
        await self._prepare(doc_id)

    async def unsubscribe(self, doc_id: str) -> None:
        state = self.tracked.pop(doc_id, None)
        self.chat.close(doc_id)
        self.unprepared.pop(doc_id, None)
        if state is not None and state.task is not None and not state.task.done():
            # Finish publishing what was committed, then let go of the node.
            with contextlib.suppress(Exception):
                await asyncio.shield(state.task)
        if state is not None and doc_id not in self.tracked and _unpublished(state):
            # Closed here during an outage (everyone left, the room was unloaded): what it
            # committed meanwhile is still published once the server is back.
            self._left_behind[doc_id] = state
        await self._unsubscribe(doc_id)

    async def _publish_left_behind(self, doc_id: str, state: Tracked) -> None:
        try:
            await self._publish_pending(doc_id, state)
        except sync_errors.BridgeError as exc:
            log.warning("publishing %s failed: %s; retrying on reconnect", doc_id, exc)
            return
        except (AppError, sync_errors.SyncError) as exc:
            log.warning("publishing %s stopped: %s", doc_id, exc)
        if self._left_behind.get(doc_id) is state:
            del self._left_behind[doc_id]

    def publish(self, doc_id: str, revisions: Sequence[Revision]) -> None:
        if not revisions:
            return
        state = self.tracked.setdefault(doc_id, Tracked())
        state.head = max(state.head, revisions[-1].rev)
        state.mine.update(revision.rev for revision in revisions)
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
        self.chat.renamed(doc_id, title)

    async def document_created(self, doc_id: str, title: str, snapshot: Snapshot) -> None:
        """Make a new document's nodes and publish its first snapshot."""
        self._deletions_out.discard(doc_id)  # a new document under a deleted one's id
        if not self.connection.connected:
            return  # made when the document is first opened
        try:
            await self.nodes.ensure(doc_id, title=title, restricted=self.restricted)
            self.access_changed(doc_id)
            await self.nodes.subscribe(inbox_node(doc_id), bare=True)
            await self.nodes.publish_snapshot(doc_id, snapshot)
        except sync_errors.BridgeError as exc:
            log.warning("could not set up the nodes of %s: %s", doc_id, exc)
        # Its chat room too, off the creator's path (a few round trips to the MUC service).
        self._spawn(self.chat.create(doc_id, title))

    async def document_deleted(self, doc_id: str) -> None:
        """Delete a document's nodes; their subscribers (instances, bots) are told."""
        self._forget(doc_id)  # first: the server tells us too, if we still listen
        self._titles_out.pop(doc_id, None)
        self._presence_out.pop(doc_id, None)
        self._roll_calls_out.discard(doc_id)
        self._deletions_out.add(doc_id)  # until done: after a reconnect, if need be
        if self.connection.connected:
            await self._delete_nodes(doc_id)
            await self.chat.destroy(doc_id)

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
        self._access_out.discard(doc_id)
        if self.mirror is not None:
            self.mirror.forget(doc_id)
        self._left_behind.pop(doc_id, None)
        self.unprepared.pop(doc_id, None)
        state = self.tracked.pop(doc_id, None)
        if state is not None and state.task is not None:
            state.task.cancel()
        self._assemblers.pop(doc_id, None)
        self.chat.close(doc_id)

    # -- publishing -----------------------------------------------------------------------

    async def _prepare(self, doc_id: str) -> None:
        state = self.tracked.get(doc_id)
        if state is None or not self.connection.connected:
            return
        try:
            title = self.host.title_of(doc_id)
            await self.nodes.ensure(doc_id, title=title, restricted=self.restricted)
            self.access_changed(doc_id)
            # Sent together, handled in this order: once revisions are heard, so are people.
            await asyncio.gather(
                self.nodes.subscribe(inbox_node(doc_id), bare=True),
                self.nodes.subscribe(live_node(doc_id), bare=False),
                self.nodes.subscribe(document_node(doc_id), bare=False),
            )
        except sync_errors.BridgeError as exc:
            log.warning(
                "could not prepare the nodes of %s: %s; trying again in %g s",
                doc_id,
                exc,
                PREPARE_RETRY_SECONDS,
            )
            self.unprepared[doc_id] = str(exc)
            self._spawn(self._prepare_later(doc_id, state))
        else:
            self.unprepared.pop(doc_id, None)
            state.ready.set()
            self._spawn(self.chat.open(doc_id, self.host.title_of(doc_id)))
            self._bots_following(doc_id)
            # Presence is transient: the people other instances already have here were
            # announced before we listened. Ask them to say it again.
            self._roll_calls_out.add(doc_id)
            self._kick_live()
        # Revisions other instances committed before we listened (while we loaded, or while
        # the connection was down) were published unheard: read them from the store.
        await self.host.caught_up(doc_id)
        if state.ready.is_set():
            self._kick(doc_id, state)

    async def _prepare_later(self, doc_id: str, state: Tracked) -> None:
        await asyncio.sleep(PREPARE_RETRY_SECONDS)
        if self.tracked.get(doc_id) is state and not state.ready.is_set():
            await self._prepare(doc_id)

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
                state.dirty = True
                if not self.connection.connected:
                    log.warning("publishing %s failed: %s; retrying on reconnect", doc_id, exc)
                    return
                # A slow server (catching up after a restart), or one that failed the request
                # (ejabberd aborts a transaction that conflicts with another): try again
                # soon, not at the next commit, which may never come. Each instance publishes
                # only its own revisions, so nobody else would.
                log.warning("publishing %s failed: %s; trying again", doc_id, exc)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)
            except (AppError, sync_errors.SyncError) as exc:
                log.warning("publishing %s stopped: %s", doc_id, exc)
                return

    async def _publish_pending(self, doc_id: str, state: Tracked) -> None:
        # What we committed, and what the room holds: an instance that died before
        # publishing its last revisions left them to whoever opens the document next.
        head = max(state.head, self.host.head_of(doc_id))
        # Only our own revisions are published: each instance publishes what it committed,
        # so every revision is published once. Right after (re)connecting or opening, the
        # node may lack revisions of other instances too: they publish theirs as they come
        # back, and whatever is still missing a little later (its instance died before
        # publishing) is published by whoever noticed (_publish_orphans_later).
        catching_up = state.published is None or state.recheck
        if catching_up:
            before = state.published  # where we were before the outage, if anywhere
            on_node = await self._node_head(doc_id)
            state.recheck = False
            if on_node == 0 and head > MAX_REPUBLISH:
                # No history on the node at all: one snapshot says it all.
                await self._publish_snapshot(doc_id, state)
                state.published = state.snapshot_at
                state.mine = {rev for rev in state.mine if rev > state.published}
                return
            # The node's newest revision says nothing of the ones below it: another instance
            # back first may have published its newer ones over the gap of ours.
            start = on_node if not state.mine else min(on_node, min(state.mine) - 1)
            state.published = start
            since = start if before is None else min(before, start)
            if head > since:
                self._spawn(self._publish_orphans_later(doc_id, state, since, head))
        # Everything since, however much (an outage of minutes under load is thousands of
        # revisions): subscribers, bots among them, follow revisions, not snapshots.
        assert state.published is not None
        while state.published < head:
            fetched = await self._revisions_after(doc_id, state.published, head)
            if not fetched:
                return
            revisions = [r for r in fetched if r.rev in state.mine]
            if revisions:
                items = await self.nodes.publish_revisions(doc_id, revisions)
                log.debug(
                    "published %s r%d-r%d in %d item(s)",
                    doc_id,
                    revisions[0].rev,
                    revisions[-1].rev,
                    items,
                )
            state.published = fetched[-1].rev
            state.mine = {rev for rev in state.mine if rev > state.published}
            head = max(head, state.head)
        every = self.settings.snapshot_every
        if state.published // every > max(state.snapshot_at, 0) // every:
            await self._publish_snapshot(doc_id, state)

    async def _publish_orphans_later(
        self, doc_id: str, state: Tracked, since: int, until: int
    ) -> None:
        """After a grace period, publish the revisions in ``(since, until]`` the node still
        lacks: their instance is gone (or still away), and subscribers need them."""
        await asyncio.sleep(ORPHAN_GRACE_SECONDS)
        ours = self.tracked.get(doc_id) is state or self._left_behind.get(doc_id) is state
        if not ours or not self.connection.connected:
            return  # closed meanwhile, or down again: the next reconnect looks again
        try:
            present = {r.rev for r in await self.nodes.revisions_after(doc_id, since)}
            published = 0
            cursor = since
            while cursor < until:
                fetched = await self._revisions_after(doc_id, cursor, until)
                if not fetched:
                    break
                missing = [r for r in fetched if r.rev not in present]
                if missing:
                    await self.nodes.publish_revisions(doc_id, missing)
                    published += len(missing)
                cursor = fetched[-1].rev
        except (sync_errors.BridgeError, sync_errors.SyncError, AppError) as exc:
            log.warning("checking %s for unpublished revisions failed: %s", doc_id, exc)
            return
        if published:
            log.info(
                "published %d revision(s) of %s that no instance had published", published, doc_id
            )

    async def _revisions_after(self, doc_id: str, since: int, head: int) -> list[Revision]:
        revisions = await self.host.revisions_after(doc_id, since, min(PUBLISH_BATCH, head - since))
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
        news = self._presence_out or self._titles_out or self._roll_calls_out
        if idle and self.connection.connected and news:
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
            elif self._roll_calls_out:
                doc_id = self._roll_calls_out.pop()
                what, work = "roll call", self.nodes.publish_roll_call(doc_id)
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

    # -- telling people when this instance is cut off --------------------------------------

    def _on_state(self, state: XmppState) -> None:
        if state is not XmppState.CONNECTED:
            self.chat.disconnected()  # its rooms are joined again with each document
        if self._host is None:
            return
        if state is XmppState.CONNECTED:
            if self._unreachable_timer is not None:
                self._unreachable_timer.cancel()
                self._unreachable_timer = None
            if self._said_unreachable:
                self._said_unreachable = False
                self._host.reachability_changed(True, "")
        elif self._unreachable_timer is None and not self._said_unreachable:
            loop = asyncio.get_running_loop()
            self._unreachable_timer = loop.call_later(
                UNREACHABLE_AFTER_SECONDS, self._say_unreachable
            )

    def _say_unreachable(self) -> None:
        self._unreachable_timer = None
        if (
            self.connection.connected
            or self._host is None
            or self.connection.state is XmppState.STOPPED
        ):
            return
        self._said_unreachable = True
        self._host.reachability_changed(
            False, self.connection.last_error or "the XMPP server does not answer"
        )

    # -- edits forwarded to the instance that sequences a document ----------------------

    @property
    def identity(self) -> str:
        bound = self.connection.xmpp.boundjid
        return str(bound.full) if bound.resource else self._identity

    async def forward(self, holder: str, doc_id: str, edit: Edit, author: str) -> Forwarded:
        if not self.connection.connected:
            raise ForwardFailed("the XMPP connection is down", holder_gone=False)
        if len(edit.patch) > ITEM_BUDGET:
            # Past what one stanza may carry: sequenced here, which is always safe.
            raise ForwardFailed(
                f"the edit is too large to forward ({len(edit.patch)} bytes)", holder_gone=False
            )
        body = tostring(forwarding.forward_payload(doc_id, edit, author).xml)
        timeout = self.settings.forward_timeout_seconds
        try:
            result = await self.connection.iqs.set(holder, body, timeout=timeout)
        except wire.IqFailed as exc:
            if exc.condition == "timeout":
                raise ForwardFailed(f"no answer from {holder} in {timeout:g} s") from exc
            if exc.condition == "disconnected":
                raise ForwardFailed("the XMPP connection is down", holder_gone=False) from exc
            raise ForwardFailed(f"{holder}: {exc.condition}") from exc
        element = result.find(forwarding.ForwardedStanza.tag_name())
        try:
            if element is None:
                raise sync_errors.ProtocolViolation("no <forwarded> in the result")
            answer = forwarding.ForwardedStanza(xml=element)
            first, second = forwarding.outcome_of(answer)
        except sync_errors.SyncError as exc:
            raise ForwardFailed(f"{holder} answered something else: {exc}") from exc
        if isinstance(first, str):
            raise RemoteRefusal(first, second)
        return Forwarded(first, second, forwarding.revision_of(answer, first))

    def _on_forward_fast(self, stanza: ET.Element) -> bool:
        """Edits other instances forward to us, taken from the parsed element (every
        forwarded edit is a request and an answer: sdk/xmpp/wire.py says why not through
        slixmpp's stanza objects)."""
        if stanza.tag != wire.IQ or stanza.get("type") != "set":
            return False
        request = stanza.find(forwarding.ForwardStanza.tag_name())
        if request is None:
            return False
        self._spawn(self._on_forward(stanza.get("from", ""), stanza.get("id", ""), request))
        return True

    async def _on_forward(self, sender: str, iq_id: str, request: ET.Element) -> None:
        """Another instance (a resource of our own account, and nobody else) asks us to
        sequence an edit: answer with its revision, or its refusal."""
        me = self.connection.xmpp.boundjid
        try:
            jid: JID | None = JID(sender)
        except InvalidJID:
            jid = None
        if jid is None or not sender or jid.bare != me.bare or jid.full == me.full:
            self._drop(f"a forwarded edit from {sender or 'nobody'}, not another instance")
            if sender:
                self.connection.xmpp.send(wire.iq_error(sender, iq_id, "auth", "forbidden"))
            return
        try:
            doc_id, edit, author = forwarding.edit_of(forwarding.ForwardStanza(xml=request))
            result = await self.host.forwarded_edit(doc_id, edit, author)
            answer = forwarding.applied(result.rev, result.placement, result.revision)
        except (sync_errors.SyncError, AppError) as exc:
            answer = forwarding.refused(exc.code, str(exc))
        except Exception:
            log.exception("a forwarded edit from %s failed", sender)
            answer = forwarding.refused("internal-error", "the sequencing instance failed")
        self.connection.xmpp.send(wire.iq_result(sender, iq_id, tostring(answer.xml)))

    # -- chat (ChatRelay), in the documents' rooms -------------------------------------------

    def attach_chat(self, host: ChatHost) -> None:
        self.chat.attach_chat(host)

    def send_chat(self, doc_id: str, message: ChatMessage) -> None:
        self.chat.send_chat(doc_id, message)

    # -- people's own addresses (AddressChannel) -------------------------------------------

    def claim_address(self) -> str | None:
        return self.address_claims.address()

    def attach_address_claims(self, redeem: Redeem) -> None:
        self.address_claims.redeem = redeem

    # -- who may read and write the nodes ------------------------------------------------

    @property
    def restricted(self) -> bool:
        return self.mirror is not None

    def follow_access(self, members_of: MembersOf) -> None:
        self._members_of = members_of
        self.mirror = AffiliationMirror(self.nodes, members_of, self.account.jid)
        self.chat.members_of = members_of

    def access_changed(self, doc_id: str) -> None:
        if self.mirror is None:
            return
        self.chat.access_changed(doc_id)
        self._access_out.add(doc_id)
        self._kick_access()

    def _kick_access(self) -> None:
        if not self._access_out or not self.connection.connected:
            return  # the next session does what is left
        if self._access_task is None or self._access_task.done():
            self._access_task = asyncio.get_running_loop().create_task(self._mirror_pending())

    async def _mirror_pending(self) -> None:
        # One document at a time: a role change is a handful of round trips, and a burst
        # (a reconnect with many documents open) must not crowd out publishing.
        while self._access_out and self.connection.connected and self.mirror is not None:
            doc_id = self._access_out.pop()
            try:
                await self.mirror.mirror(doc_id)
            except sync_errors.BridgeError as exc:
                if exc.condition == "item-not-found":
                    continue  # no nodes (yet): they are made, and mirrored, when opened
                log.warning(
                    "could not make the nodes of %s follow its members: %s; trying again",
                    doc_id,
                    exc,
                )
                self._access_out.add(doc_id)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)
            except AppError as exc:  # the members could not be read (the database)
                log.warning("could not read the members of %s: %s; trying again", doc_id, exc)
                self._access_out.add(doc_id)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)

    async def _sweep_access(self) -> None:
        """Roles can change where this instance does not see it (another instance, an
        operator's ``collab users`` on the database): compare the open documents' members
        with what their nodes were made to admit, every ``access_recheck_seconds``."""
        assert self.mirror is not None
        while True:
            await asyncio.sleep(self.settings.access_recheck_seconds)
            for doc_id in list(self.tracked):
                try:
                    if doc_id not in self._access_out and await self.mirror.stale(doc_id):
                        self.access_changed(doc_id)
                except Exception:  # a database hiccup must not end the sweep
                    log.exception("checking the members of %s failed", doc_id)

    async def _member(self, doc_id: str, publisher: str) -> BusMember | None:
        """The member a publisher's identity stands for on ``doc_id`` (None: nobody)."""
        if self._members_of is None:
            return None
        members = await self._members_of(doc_id)
        sender = normalized(_bare(publisher))
        return next((m for jid, m in members.items() if normalized(jid) == sender), None)

    # -- incoming -------------------------------------------------------------------------

    def _mine(self, payload: ElementBase | None) -> bool:
        return payload is not None and st.origin_of(payload) == self.nodes.origin

    def _from_instance(self, publisher: str, payload: ElementBase | None) -> bool:
        """Whether one of the app's instances published ``item``: the XMPP server writes
        the publisher of every item itself (Prosody's ``expose_publisher``, ejabberd's
        ``itemreply: publisher``; a publisher's own claim is overwritten), and only the
        instances log in as the service account. A revision in parts is not vouched for:
        each part could come from someone else, and such revisions are rare (the store
        serves them)."""
        if payload is None or payload.xml.get("parts"):
            return False
        return _bare(publisher) == str(self.connection.xmpp.boundjid.bare)

    def _from_service(self, message: Message, node: str) -> bool:
        """Only the pubsub service sends events; anything else is forged, logged, dropped."""
        sender = message["from"]
        if sender == self._service:
            return True
        self._drop(f"an event for {node!r} from {sender}, not from {self._service}")
        return False

    def _drop(self, what: str) -> None:
        self.dropped += 1
        # The first few, then one in a thousand: a flood must not flood the log too.
        if self.dropped <= 10 or self.dropped % 1000 == 0:
            log.warning("dropped %s (%d dropped so far)", what, self.dropped)

    def _on_publish(self, message: Message) -> None:
        items = message["pubsub_event"]["items"]
        parsed = parse_node(items["node"])
        if parsed is None or not self._from_service(message, items["node"]):
            return
        doc_id, kind = parsed
        item = items["item"]
        payload = payload_of(item)
        if kind in ("revisions", "live") and doc_id not in self.tracked:
            # We subscribe to these for open documents only: nothing else should come.
            self._drop(f"an event for {items['node']!r}, which this instance does not follow")
            return
        if kind == "revisions":
            self._revision_item(doc_id, payload, str(item["publisher"]))
        elif kind == "live":
            if not self._mine(payload):
                self._on_live(doc_id, payload)
        elif kind == "inbox" and isinstance(payload, st.EditStanza):
            self._spawn(self._handle_edit(doc_id, payload, item["publisher"]))
        elif kind == "inbox" and isinstance(payload, st.SnapshotRequestStanza):
            self._spawn(self._answer_snapshot_request(doc_id, item["publisher"]))

    def _revision_item(self, doc_id: str, payload: ElementBase | None, publisher: str) -> None:
        if self._mine(payload):
            return
        try:
            revisions = self._assemblers.setdefault(doc_id, RevisionAssembler()).feed(payload)
        except sync_errors.SyncError as exc:
            log.warning("ignoring a bad item on %s: %s", document_node(doc_id), exc)
            return
        if revisions:
            heard = self.host.revisions_heard(
                doc_id, revisions, from_instance=self._from_instance(publisher, payload)
            )
            self._spawn(heard)

    def _on_event_fast(self, stanza: ET.Element) -> bool:
        """Revision and live events, read from the parsed element before slixmpp builds
        stanza objects for them (sdk/xmpp/wire.py): every revision comes back to the
        instance that published it, and reaches every other instance. Our own echoes are
        dropped here; revisions of other publishers on open documents are taken here;
        anything else (other nodes, other payloads, other senders, which ``_on_publish``
        logs) goes on to slixmpp and ``_on_publish``, which decide as before."""
        event = wire.event_items(stanza, self._service_address)
        if event is None:
            return False
        node, entries = event
        parsed = parse_node(node)
        if parsed is None or parsed[1] not in ("revisions", "live"):
            return False
        doc_id, kind = parsed
        origin = self.nodes.origin
        if all(payload.get("origin") == origin for _, payload in entries):
            return True  # what we published, echoed to us as a subscriber
        if kind != "revisions" or doc_id not in self.tracked:
            return False
        wrapped = [(item, revision_payload(payload)) for item, payload in entries]
        if any(payload is None for _, payload in wrapped):
            return False
        for item, payload in wrapped:
            self._revision_item(doc_id, payload, item.get("publisher", ""))
        return True

    def _on_unavailable(self, presence: Any) -> None:
        """Instances share the service account, each with its own resource, and the XMPP
        server tells each resource when another goes offline: a clean stop, a crash (its
        connection dropped) or a lost network. Its people are gone with it. A bot that
        followed a document and goes offline leaves it."""
        sender = presence["from"]
        me = self.connection.xmpp.boundjid
        if sender.bare != me.bare:
            self._bot_gone(str(sender.full))
            return
        if sender.full == me.full or not sender.resource:
            return
        self._spawn(self.host.instance_gone(str(sender.full)))

    # -- bots among the people present ---------------------------------------------------

    def _on_available(self, presence: Any) -> None:
        """Another instance came online (a resource of our account); or a bot says (directed
        presence, ``<follow/>``) that it follows a document: the people there see it, while
        it is available."""
        sender = presence["from"]
        me = self.connection.xmpp.boundjid
        if sender.bare == me.bare and sender.resource and sender.full != me.full:
            self._spawn(self.host.instance_back(str(sender.full)))
            return
        if presence.xml.find(f"{{{st.NS}}}follow") is None:
            return
        if sender.bare == self.connection.xmpp.boundjid.bare or not sender.resource:
            return
        try:
            doc_id, name = st.follow_from_stanza(presence["collab_follow"])
        except sync_errors.SyncError as exc:
            self._drop(f"a bad follow from {sender}: {exc}")
            return
        self._spawn(self._bot_follows(str(sender.full), doc_id, name))

    async def _bot_follows(self, jid: str, doc_id: str, name: str) -> None:
        if self.restricted and await self._member(doc_id, jid) is None:
            self._drop(f"a follow of {doc_id!r} from {_bare(jid)}, which has no role on it")
            return
        key = (jid, doc_id)
        joined = key not in self._bots
        person = bot_person(jid, name)
        self._bots[key] = person
        self._bots.move_to_end(key)
        if len(self._bots) > MAX_SENDERS:
            (_, forgotten_doc), forgotten = self._bots.popitem(last=False)
            await self.host.presence_heard(forgotten_doc, PresenceEvent("leave", forgotten))
        event = PresenceEvent("join" if joined else "update", person, jid)
        await self.host.presence_heard(doc_id, event)

    def _bot_gone(self, jid: str) -> None:
        for key in [k for k in self._bots if k[0] == jid]:
            person = self._bots.pop(key)
            self._spawn(self.host.presence_heard(key[1], PresenceEvent("leave", person)))

    def _bots_following(self, doc_id: str) -> None:
        """A document just opened here: the bots we know follow it join its people."""
        for (jid, followed), person in list(self._bots.items()):
            if followed == doc_id:
                self._spawn(self.host.presence_heard(doc_id, PresenceEvent("join", person, jid)))

    def _on_live(self, doc_id: str, payload: ElementBase | None) -> None:
        try:
            if isinstance(payload, st.PresenceStanza):
                kind, person, origin = st.presence_from_stanza(payload)
                event = PresenceEvent(kind, person, origin)
                self._spawn(self.host.presence_heard(doc_id, event))
            elif isinstance(payload, st.RenamedStanza):
                title, _origin = st.renamed_from_stanza(payload)
                self._spawn(self.host.renamed_heard(doc_id, title))
            elif isinstance(payload, st.RollCallStanza):
                # Another instance just opened the document: say again who is here.
                for person in self.host.people_here(doc_id):
                    self.relay_presence(doc_id, PresenceEvent("update", person))
        except sync_errors.SyncError as exc:
            log.warning("ignoring a bad item on %s: %s", live_node(doc_id), exc)

    def _on_delete(self, message: Message) -> None:
        node = message["pubsub_event"]["delete"]["node"]
        parsed = parse_node(node)
        if parsed is None or parsed[1] != "revisions" or not self._from_service(message, node):
            return  # each node's deletion would say the same; the revision node's suffices
        doc_id = parsed[0]
        if doc_id not in self.tracked:
            return  # not open here, or our own deletion (document_deleted forgot it first)
        self._forget(doc_id)
        self._spawn(self.host.deleted_heard(doc_id))

    async def _handle_edit(self, doc_id: str, payload: st.EditStanza, publisher: str) -> None:
        try:
            edit, author = st.edit_from_stanza(payload)
        except sync_errors.SyncError as exc:
            log.info("bad edit from %s on %s: %s", publisher, doc_id, exc)
            return
        try:
            self._check_limits(publisher, edit.patch)
            if self.restricted:
                author = await self._editor(doc_id, publisher)
            await self.host.edit_heard(doc_id, edit, author)
        except (sync_errors.SyncError, AppError) as exc:
            self.metrics.edit_errors.labels(exc.code).inc()
            if publisher:
                self._send_edit_error(
                    publisher, doc_id, edit.op_id.client, edit.op_id.seq, exc.code, str(exc)
                )
            else:
                log.info("edit %s on %s refused, and nobody to tell: %s", edit.op_id, doc_id, exc)

    async def _editor(self, doc_id: str, publisher: str) -> str:
        """The account an inbox edit is written under: its publisher's, who must be an
        editor (``Refused`` otherwise: the XMPP server should have refused it already, but
        one configured by hand may not)."""
        member = await self._member(doc_id, publisher)
        if member is None:
            raise Refused(
                f"{_bare(publisher) or 'an unnamed publisher'} has no role on '{doc_id}': "
                "its owner can share the document with the bot's account"
            )
        if not member.may_edit:
            raise Refused(f"{member.account} may only view '{doc_id}'")
        return member.account

    def _check_limits(self, publisher: str, patch: str) -> None:
        """A bot's edit is held to a WebSocket's limits: size, then rate, per sender."""
        limit = self.settings.max_message_bytes
        if len(patch) > limit:  # patch text is ASCII: characters are bytes
            raise PayloadTooLarge(
                f"the edit's patch is {len(patch)} bytes; the limit is {limit} "
                "(COLLAB_MAX_MESSAGE_BYTES): send it in smaller edits"
            )
        self._check_rate(publisher)

    def _check_rate(self, publisher: str) -> None:
        sender = _bare(publisher)
        bucket = self._senders.get(sender)
        if bucket is None:
            bucket = TokenBucket(self.settings.edits_per_second, self.settings.edit_burst)
            self._senders[sender] = bucket
            if len(self._senders) > MAX_SENDERS:
                self._senders.popitem(last=False)
        self._senders.move_to_end(sender)
        if not bucket.take():
            raise Refused(
                f"more than {self.settings.edits_per_second:g} edits per second from "
                f"{sender or 'an unnamed sender'}; this edit was not applied, send it again "
                "shortly",
                Refusal.RATE_LIMITED,
            )

    def _send_edit_error(
        self, to: str, doc_id: str, client: str, seq: int, code: str, text: str
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

    async def _answer_snapshot_request(self, doc_id: str, publisher: str) -> None:
        # A snapshot can be megabytes: requests cost their sender a token, like an edit,
        # and the ones that come while one is being published are answered by it.
        if doc_id in self._snapshots_out:
            return
        try:
            self._check_rate(publisher)
            if self.restricted and await self._member(doc_id, publisher) is None:
                raise Refused(f"{_bare(publisher) or 'nobody'} has no role on '{doc_id}'")
        except (Refused, AppError) as exc:
            log.info("snapshot request for %s not answered: %s", doc_id, exc)
            return
        self._snapshots_out.add(doc_id)
        try:
            await self._publish_snapshot(doc_id, self.tracked.get(doc_id) or Tracked())
        except (sync_errors.SyncError, AppError) as exc:
            log.info("snapshot request for %s not answered: %s", doc_id, exc)
        finally:
            self._snapshots_out.discard(doc_id)


def _unpublished(state: Tracked) -> bool:
    return state.head > (state.published or 0)


def _bare(publisher: str) -> str:
    """The account behind a publisher Prosody names ("" if it names none, or garbage)."""
    try:
        return str(JID(publisher).bare) if publisher else ""
    except InvalidJID:
        return ""


def bot_person(jid: str, name: str) -> dict[str, Any]:
    """A bot as the page lists people: a session and a colour of its own, from its JID."""
    digest = hashlib.sha256(jid.encode()).hexdigest()
    return {
        "session": f"bot-{digest[:24]}",
        "name": name,
        "color": f"#{digest[24:30]}",
        "cursor": None,
        "anchor": None,
        "rev": 0,
        "bot": True,
    }
