"""Rooms: one per open document, holding its sequencer and the people connected to it.

A room sequences edits (rebase in memory, commit to the store, then acknowledge and fan out),
answers catch-ups, and relays presence. It never assumes it is the only sequencer of its
document: a commit that finds the head moved folds in what another process committed and
tries again. Rooms with nobody in them are unloaded after a grace period, so memory follows
the documents in use, not the documents ever opened.

Ordering: everything a member receives about the text (its catch-up, then each new revision)
is queued under the room's lock, so it arrives in revision order with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.config import Settings
from app.errors import Busy
from app.metrics import Metrics
from app.store import AppendResult, Store
from sync import errors as sync_errors
from sync import patches
from sync.merge import changes_between
from sync.protocol import Edit, OpId, Revision, Snapshot, Synced
from sync.server import Outcome, Placement, Sequencer

log = logging.getLogger(__name__)

# WebSocket close codes (documented in docs/protocol.md).
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_VIOLATION = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_DELETED = 4410

# How long closing a connection may wait for its peer (to flush, to take the close frame).
# A stuck peer never would, and a room must not wait on it.
CLOSE_TIMEOUT_SECONDS = 10.0


class RoomEvents(Protocol):
    """What the rest of the app hears from rooms (the XMPP bridge, for one)."""

    def room_loaded(self, room: Room) -> None: ...

    def room_unloaded(self, doc_id: str) -> None: ...

    def revision_committed(self, room: Room, revision: Revision) -> None: ...


class NoEvents:
    def room_loaded(self, room: Room) -> None:
        pass

    def room_unloaded(self, doc_id: str) -> None:
        pass

    def revision_committed(self, room: Room, revision: Revision) -> None:
        pass


class Channel(Protocol):
    """Where a member's messages go: the WebSocket adapter, or a test double."""

    async def send_json(self, message: dict[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class Person:
    session: str
    client: str
    name: str
    color: str
    cursor: int | None = None
    anchor: int | None = None
    rev: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "name": self.name,
            "color": self.color,
            "cursor": self.cursor,
            "anchor": self.anchor,
            "rev": self.rev,
        }


class TokenBucket:
    """Allows ``rate`` events per second with bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(eq=False)
class Member:
    """One connection in a room, with its own bounded outgoing queue.

    ``closed`` is set the moment the member stops (dropped as too slow, its document deleted,
    its socket failed): whoever reads from the connection should then stop too.
    """

    person: Person
    channel: Channel
    queue_limit: int
    limiter: TokenBucket
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    sender: asyncio.Task[None] | None = None
    _stopping: asyncio.Future[None] | None = None

    @property
    def closing(self) -> bool:
        return self.closed.is_set()

    @property
    def room_left(self) -> int:
        """How many more messages the queue takes before the member counts as stuck."""
        return max(0, self.queue_limit - self.queue.qsize())

    def start(self) -> None:
        self.sender = asyncio.create_task(self._drain(), name=f"send-{self.person.session}")

    def push(self, message: dict[str, Any]) -> bool:
        """Queue a message; False if the member is too far behind to keep."""
        if self.closing:
            return True
        if self.queue.qsize() >= self.queue_limit:
            return False
        self.queue.put_nowait(message)
        return True

    async def _drain(self) -> None:
        while True:
            message = await self.queue.get()
            if message is None:
                return
            try:
                await self.channel.send_json(message)
            except Exception:  # the socket is gone: nothing more can reach this member
                log.debug("send to %s failed", self.person.session, exc_info=True)
                self.closed.set()
                return

    async def stop(self, code: int | None = None, reason: str = "", *, flush: bool = False) -> None:
        """Stop sending and, with ``code``, close the channel. ``flush`` first sends what is
        queued (an error explaining the close); a member too slow to keep is closed without.

        Idempotent: a second call waits for the first, whose code wins. Never waits on the
        peer longer than ``CLOSE_TIMEOUT_SECONDS``.
        """
        self.closed.set()
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(code, reason, flush))
        await asyncio.shield(self._stopping)

    async def _stop(self, code: int | None, reason: str, flush: bool) -> None:
        sender = self.sender
        if sender is not None:
            if flush:
                self.queue.put_nowait(None)
                await asyncio.wait({sender}, timeout=CLOSE_TIMEOUT_SECONDS)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if code is not None:
            try:
                await asyncio.wait_for(self.channel.close(code, reason), CLOSE_TIMEOUT_SECONDS)
            except Exception:  # already gone, or stuck: either way it is closed to us
                log.debug("closing %s failed", self.person.session, exc_info=True)


class Room:
    def __init__(
        self,
        doc_id: str,
        title: str,
        sequencer: Sequencer,
        store: Store,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.doc_id = doc_id
        self.title = title
        self.sequencer = sequencer
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.members: dict[str, Member] = {}
        self.lock = asyncio.Lock()
        self.users = 0  # members plus REST callers holding the room
        self.unload_task: asyncio.Task[None] | None = None
        self._dropping: set[asyncio.Task[None]] = set()
        self.events: RoomEvents = NoEvents()

    # -- sequencing ---------------------------------------------------------------------

    async def submit(self, edit: Edit, author: str) -> Outcome:
        """Sequence, commit, then fan out ``edit``. Raises SyncError or Busy."""
        started = time.perf_counter()
        async with self.lock:
            for _attempt in range(20):
                try:
                    outcome = self.sequencer.propose(edit, author)
                except sync_errors.StaleRevision:
                    # Perhaps applied long ago, before the history held in memory.
                    existing = await self.store.find_operation(self.doc_id, edit.op_id)
                    if existing is None:
                        raise
                    outcome = Outcome(existing, Placement.DUPLICATE)
                if outcome.placement is Placement.DUPLICATE:
                    break
                result = await self.store.append(
                    self.doc_id, outcome.revision, outcome.op, outcome.text
                )
                if result is AppendResult.APPENDED:
                    self.sequencer.accept(outcome)
                    self.broadcast(outcome.revision.to_wire())
                    self.events.revision_committed(self, outcome.revision)
                    break
                if result is AppendResult.DUPLICATE:
                    existing = await self.store.find_operation(self.doc_id, edit.op_id)
                    if existing is None:  # pragma: no cover - the unique key says otherwise
                        raise Busy("the operation is being written by another process")
                    await self._refresh_locked()
                    outcome = Outcome(existing, Placement.DUPLICATE)
                    break
                await self._refresh_locked()  # another process committed first
            else:
                raise Busy(f"document '{self.doc_id}' is too contended; try again")
        self.metrics.edits.labels(outcome.placement.value).inc()
        self.metrics.edit_seconds.observe(time.perf_counter() - started)
        return outcome

    async def submit_text(self, new_text: str, author: str) -> Outcome:
        """Make the document ``new_text`` as one revision (restore, import, REST edits)."""
        async with self.lock:
            await self._refresh_locked()
            base_text, base = self.sequencer.text, self.sequencer.rev
        op = changes_between(base_text, new_text)
        edit = Edit(
            base, OpId(f"srv-{uuid.uuid4().hex[:16]}", 1), patches.patch_text(base_text, op)
        )
        return await self.submit(edit, author)

    async def refresh(self) -> None:
        async with self.lock:
            await self._refresh_locked()

    async def apply_remote(self, revisions: list[Revision]) -> None:
        """Revisions another instance committed (heard over XMPP), in order.

        The next one is folded in directly and passed to our members; anything that does
        not follow on (a gap, a revision that does not fit) is filled from the store, which
        has every committed revision.
        """
        async with self.lock:
            for revision in revisions:
                if revision.rev <= self.sequencer.rev:
                    continue  # ours, or already folded in from the store
                if revision.rev == self.sequencer.rev + 1:
                    try:
                        self.sequencer.ingest(revision)
                    except sync_errors.SyncError:
                        log.warning(
                            "revision %d of %s did not fold; reading the store",
                            revision.rev,
                            self.doc_id,
                        )
                        await self._refresh_locked()
                        return
                    self.broadcast(revision.to_wire())
                    continue
                await self._refresh_locked()
                return

    async def _refresh_locked(self) -> None:
        """Fold in revisions other processes committed, and pass them on to our members."""
        while True:
            newer = await self.store.revisions_after(
                self.doc_id, self.sequencer.rev, self.settings.max_catch_up
            )
            if not newer:
                return
            for revision in newer:
                self.sequencer.ingest(revision)
                self.broadcast(revision.to_wire())

    async def catch_up(self, since: int, client: str, *, full: bool) -> list[Revision] | Snapshot:
        """What a client at ``since`` needs: the revisions after it, or else a snapshot."""
        async with self.lock:
            await self._refresh_locked()
            return await self._catch_up_locked(since, client, full=full)

    async def _catch_up_locked(
        self, since: int, client: str, *, full: bool
    ) -> list[Revision] | Snapshot:
        head = self.sequencer.rev
        if since > head:
            raise sync_errors.FutureRevision(
                f"revision {since} does not exist yet (the head is {head})"
            )
        if full or head - since > self.settings.max_catch_up:
            return await self._snapshot_locked(client)
        if since >= self.sequencer.oldest_base:
            result = self.sequencer.catch_up(since, client)
            assert isinstance(result, list)
            return result
        return await self.store.revisions_after(self.doc_id, since, head - since)

    async def _snapshot_locked(self, client: str) -> Snapshot:
        last_seq = await self.store.last_seq(self.doc_id, client)
        return Snapshot(self.sequencer.rev, self.sequencer.text, self.sequencer.checksum, last_seq)

    async def _push_catch_up_locked(self, member: Member, since: int, *, full: bool) -> None:
        client = member.person.client
        try:
            result = await self._catch_up_locked(since, client, full=full)
        except sync_errors.FutureRevision as exc:
            # The client claims a revision we never made: tell it, then give it the truth.
            member.push({"type": "error", "code": exc.code, "message": str(exc)})
            result = await self._snapshot_locked(client)
        if isinstance(result, list) and len(result) + 1 > member.room_left:
            # A catch-up is a burst the queue limit is not meant for: one snapshot instead.
            result = await self._snapshot_locked(client)
        if isinstance(result, Snapshot):
            member.push(result.to_wire())
            return
        for revision in result:
            member.push(revision.to_wire())
        member.push(Synced(self.sequencer.rev).to_wire())

    # -- members and presence -----------------------------------------------------------

    async def join(
        self, member: Member, since: int, *, full: bool, welcome: dict[str, Any]
    ) -> None:
        """Queue ``welcome`` (with the people present) and the catch-up, then add ``member``.

        Done under the lock that sequencing holds, so no revision can reach the member before
        its catch-up, be left out of both, or come twice.
        """
        async with self.lock:
            await self._refresh_locked()
            member.push({**welcome, "people": self.people()})
            await self._push_catch_up_locked(member, since, full=full)
            self.add(member)

    async def resync(self, member: Member, since: int, *, full: bool) -> None:
        """Queue a catch-up for a member that asked for one (after a gap, or a bad copy)."""
        async with self.lock:
            await self._refresh_locked()
            await self._push_catch_up_locked(member, since, full=full)

    def broadcast(self, message: dict[str, Any], *, exclude: str | None = None) -> None:
        for session, member in list(self.members.items()):
            if session == exclude or self.members.get(session) is not member:
                continue  # excluded, or dropped while this loop ran
            if not member.push(message):
                self.metrics.slow_consumers.inc()
                log.warning("closing %s in %s: too slow", session, self.doc_id)
                self._drop(member, CLOSE_TOO_SLOW, "too slow: reconnect and resync")

    def _drop(self, member: Member, code: int, reason: str) -> None:
        """Take ``member`` out now and close it in the background (it may be stuck)."""
        member.closed.set()  # queue nothing more for it, from this very moment
        self.remove(member)
        task = asyncio.get_running_loop().create_task(member.stop(code, reason))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    def add(self, member: Member) -> None:
        self.members[member.person.session] = member
        self.broadcast(
            {"type": "presence", "event": "join", "person": member.person.public()},
            exclude=member.person.session,
        )

    def remove(self, member: Member) -> None:
        if self.members.pop(member.person.session, None) is not None:
            self.broadcast({"type": "presence", "event": "leave", "person": member.person.public()})

    def people(self) -> list[dict[str, Any]]:
        return [m.person.public() for m in self.members.values()]

    def update_presence(self, member: Member) -> None:
        if member.person.session not in self.members:
            return
        self.broadcast(
            {"type": "presence", "event": "update", "person": member.person.public()},
            exclude=member.person.session,
        )

    async def close_all(self, code: int, reason: str) -> None:
        members = list(self.members.values())
        self.members.clear()
        await asyncio.gather(*(m.stop(code, reason) for m in members), return_exceptions=True)


class RoomRegistry:
    """The rooms this process holds; loads on first use, unloads when idle."""

    def __init__(self, store: Store, settings: Settings, metrics: Metrics) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.events: RoomEvents = NoEvents()
        self.rooms: dict[str, Room] = {}
        # Loads in progress, each with the number of deletions seen when it started.
        self._loading: dict[str, tuple[asyncio.Future[Room], int]] = {}
        self._forgets = 0

    async def acquire(self, doc_id: str) -> Room:
        """The room of ``doc_id``, loaded if need be; hold it until :meth:`release`.

        Raises DocumentNotFound. Concurrent callers share one load.
        """
        room = self.rooms.get(doc_id)
        if room is None:
            loading = self._loading.get(doc_id)
            if loading is None:
                loading = (asyncio.ensure_future(self._load(doc_id)), self._forgets)
                self._loading[doc_id] = loading
                loading[0].add_done_callback(self._loaded)
            future, seen = loading
            # Shielded: one caller giving up must not cancel the load the others wait for.
            loaded = await asyncio.shield(future)
            # A document deleted after the load read it must not come back as a room that
            # nobody would ever close. Deletions are rare: check again only after one.
            while seen != self._forgets:
                seen = self._forgets
                await self.store.get(doc_id)  # raises DocumentNotFound
            # The load's room may have been installed, used and unloaded meanwhile; it is
            # still a faithful copy (catch-ups refresh it), and only one room is live.
            installed = doc_id not in self.rooms
            room = self.rooms.setdefault(doc_id, loaded)
            self.metrics.rooms.set(len(self.rooms))
            if installed:
                room.events = self.events
                self.events.room_loaded(room)
        room.users += 1
        if room.unload_task is not None:
            room.unload_task.cancel()
            room.unload_task = None
        return room

    def _loaded(self, future: asyncio.Future[Room]) -> None:
        # Forget every load once done, failed or not, so bad ids leave nothing behind.
        for doc_id, (loading, _) in list(self._loading.items()):
            if loading is future:
                del self._loading[doc_id]
        if not future.cancelled():
            future.exception()  # retrieved here, raised to each waiter

    async def release(self, room: Room) -> None:
        room.users -= 1
        if room.users > 0 or self.rooms.get(room.doc_id) is not room:
            return
        if room.unload_task is not None:
            room.unload_task.cancel()
            room.unload_task = None
        if self.settings.idle_unload_seconds == 0:
            self._unload(room)
        else:
            room.unload_task = asyncio.get_running_loop().create_task(self._unload_later(room))

    @contextlib.asynccontextmanager
    async def holding(self, doc_id: str) -> AsyncIterator[Room]:
        room = await self.acquire(doc_id)
        try:
            yield room
        finally:
            await self.release(room)

    async def _unload_later(self, room: Room) -> None:
        await asyncio.sleep(self.settings.idle_unload_seconds)
        room.unload_task = None
        if room.users == 0:
            self._unload(room)

    def _unload(self, room: Room) -> None:
        if self.rooms.get(room.doc_id) is room:
            del self.rooms[room.doc_id]
            self.metrics.rooms.set(len(self.rooms))
            self.events.room_unloaded(room.doc_id)
            log.info("unloaded document %s", room.doc_id)

    async def _load(self, doc_id: str) -> Room:
        loaded = await self.store.load(doc_id, history=self.settings.history_limit)
        sequencer = Sequencer(
            loaded.text,
            loaded.info.head_rev,
            history=loaded.history,
            client_seqs=loaded.client_seqs,
            history_limit=self.settings.history_limit,
            max_length=self.settings.max_document_chars,
        )
        log.info("loaded document %s at revision %d", doc_id, loaded.info.head_rev)
        return Room(doc_id, loaded.info.title, sequencer, self.store, self.settings, self.metrics)

    async def forget(self, doc_id: str) -> None:
        """A document was deleted: close its connections and drop it."""
        self._forgets += 1
        room = self.rooms.pop(doc_id, None)
        if room is not None:
            if room.unload_task is not None:
                room.unload_task.cancel()
                room.unload_task = None
            self.metrics.rooms.set(len(self.rooms))
            self.events.room_unloaded(doc_id)
            await room.close_all(CLOSE_DELETED, "the document was deleted")

    async def close(self) -> None:
        rooms = list(self.rooms.values())
        self.rooms.clear()
        for room in rooms:
            if room.unload_task is not None:
                room.unload_task.cancel()
                room.unload_task = None
        await asyncio.gather(
            *(r.close_all(CLOSE_GOING_AWAY, "the server is shutting down") for r in rooms),
            return_exceptions=True,
        )
        self.metrics.rooms.set(0)
