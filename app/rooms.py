"""Rooms: one per open document, holding its sequencer and the people connected to it.

A room sequences edits (rebase in memory, commit to the store, then acknowledge and fan out),
answers catch-ups, and relays presence. It never assumes it is the only sequencer of its
document: a commit that finds the head moved folds in what another process committed and
tries again. Rooms with nobody in them are unloaded after a grace period, so memory follows
the documents in use, not the documents ever opened.
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
from sync.protocol import Edit, OpId, Revision, Snapshot
from sync.server import Outcome, Placement, Sequencer

log = logging.getLogger(__name__)

# WebSocket close codes (documented in docs/protocol.md).
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_VIOLATION = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_DELETED = 4410


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
    """One connection in a room, with its own bounded outgoing queue."""

    person: Person
    channel: Channel
    queue_limit: int
    limiter: TokenBucket
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    closing: bool = False
    sender: asyncio.Task[None] | None = None

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
            except Exception:  # the socket is gone; the receive loop will notice
                log.debug("send to %s failed", self.person.session, exc_info=True)
                return

    async def stop(self, code: int | None = None, reason: str = "") -> None:
        self.closing = True
        if code is not None:
            with contextlib.suppress(Exception):
                await self.channel.close(code, reason)
        self.queue.put_nowait(None)
        if self.sender is not None and self.sender is not asyncio.current_task():
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.sender


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
        async with self.lock:
            await self._refresh_locked()
            head = self.sequencer.rev
            if since > head:
                raise sync_errors.FutureRevision(
                    f"revision {since} does not exist yet (the head is {head})"
                )
            if full or head - since > self.settings.max_catch_up:
                last_seq = await self.store.last_seq(self.doc_id, client)
                return Snapshot(head, self.sequencer.text, self.sequencer.checksum, last_seq)
            if since >= self.sequencer.oldest_base:
                result = self.sequencer.catch_up(since, client)
                assert isinstance(result, list)
                return result
            return await self.store.revisions_after(self.doc_id, since, head - since)

    # -- members and presence -----------------------------------------------------------

    def broadcast(self, message: dict[str, Any], *, exclude: str | None = None) -> None:
        for session, member in list(self.members.items()):
            if session == exclude:
                continue
            if not member.push(message):
                self.metrics.slow_consumers.inc()
                log.warning("closing %s in %s: too slow", session, self.doc_id)
                self.members.pop(session, None)
                asyncio.get_running_loop().create_task(
                    self._drop(member, CLOSE_TOO_SLOW, "too slow: reconnect and resync")
                )

    async def _drop(self, member: Member, code: int, reason: str) -> None:
        await member.stop(code, reason)
        self.broadcast({"type": "presence", "event": "leave", "person": member.person.public()})

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
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    async def acquire(self, doc_id: str) -> Room:
        room = self.rooms.get(doc_id)
        if room is None:
            lock = self._loading.setdefault(doc_id, asyncio.Lock())
            async with lock:
                room = self.rooms.get(doc_id)
                if room is None:
                    room = await self._load(doc_id)
                    self.rooms[doc_id] = room
                    self.metrics.rooms.set(len(self.rooms))
            self._loading.pop(doc_id, None)
        room.users += 1
        if room.unload_task is not None:
            room.unload_task.cancel()
            room.unload_task = None
        return room

    async def release(self, room: Room) -> None:
        room.users -= 1
        if room.users > 0 or self.rooms.get(room.doc_id) is not room:
            return
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
        if room.users == 0:
            self._unload(room)

    def _unload(self, room: Room) -> None:
        if self.rooms.get(room.doc_id) is room:
            del self.rooms[room.doc_id]
            self.metrics.rooms.set(len(self.rooms))
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
        room = self.rooms.pop(doc_id, None)
        if room is not None:
            if room.unload_task is not None:
                room.unload_task.cancel()
            await room.close_all(CLOSE_DELETED, "the document was deleted")
            self.metrics.rooms.set(len(self.rooms))

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            if room.unload_task is not None:
                room.unload_task.cancel()
            await room.close_all(CLOSE_GOING_AWAY, "the server is shutting down")
        self.rooms.clear()
