"""The rooms this process holds: loaded on first use, unloaded when idle.

Memory follows the documents in use, not the documents ever opened. The registry is also
this instance's side of the revision bus (``BusHost``): what other instances publish reaches
the right room through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from app.config import Settings
from app.core.background import Background
from app.core.bus import Forwarded, PresenceEvent
from app.core.extensions import Extensions
from app.core.members import CLOSE_DELETED, CLOSE_GOING_AWAY
from app.core.rooms import Room
from app.core.routing import SequencerRouting
from app.core.store import DocumentStore
from sync.protocol import Edit, Revision, Snapshot
from sync.server import Sequencer

log = logging.getLogger(__name__)


class RoomRegistry:
    def __init__(self, store: DocumentStore, settings: Settings, extensions: Extensions) -> None:
        self.store = store
        self.settings = settings
        self.extensions = extensions
        self.rooms: dict[str, Room] = {}
        # Loads in progress, each with the number of deletions seen when it started.
        self._loading: dict[str, tuple[asyncio.Future[Room], int]] = {}
        self._forgets = 0
        self.background = Background()
        # Which instance sequences each document, when several may hold it (main.py).
        self.routing: SequencerRouting | None = None
        # Whether the bus reaches the other instances (and bots): people are told when not.
        self.reachable = True
        self.unreachable_detail = ""

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
            if installed:
                self.background.spawn(self.extensions.on_load(doc_id))
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
            self.background.spawn(self.extensions.on_unload(room.doc_id))
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
            # The store keeps the head's checksum: computing it again from the text would cost
            # a pass over the whole document (100 ms per MB) on every load.
            text_checksum=loaded.info.checksum,
        )
        log.info("loaded document %s at revision %d", doc_id, loaded.info.head_rev)
        room = Room(
            doc_id, loaded.info.title, sequencer, self.store, self.settings, self.extensions
        )
        if self.routing is not None:
            room.route = self.routing.route
        return room

    async def forget(self, doc_id: str) -> None:
        """A document was deleted: close its connections and drop it."""
        self._forgets += 1
        room = self.rooms.pop(doc_id, None)
        if room is not None:
            if room.unload_task is not None:
                room.unload_task.cancel()
                room.unload_task = None
            self.background.spawn(self.extensions.on_unload(doc_id))
            await room.close_all(CLOSE_DELETED, "the document was deleted")

    async def close(self) -> None:
        rooms = list(self.rooms.values())
        self.rooms.clear()
        for room in rooms:
            if room.unload_task is not None:
                room.unload_task.cancel()
                room.unload_task = None
            self.background.spawn(self.extensions.on_unload(room.doc_id))
        await asyncio.gather(
            *(r.close_all(CLOSE_GOING_AWAY, "the server is shutting down") for r in rooms),
            return_exceptions=True,
        )
        # Let the last reports (people leaving) reach the extensions before they stop.
        await asyncio.gather(*(r.background.wait() for r in rooms))
        await self.background.wait()

    # -- BusHost: what other instances publish --------------------------------------------

    def open_documents(self) -> list[str]:
        return list(self.rooms)

    def head_of(self, doc_id: str) -> int:
        room = self.rooms.get(doc_id)
        return room.sequencer.kept_rev if room is not None else 0

    def title_of(self, doc_id: str) -> str:
        room = self.rooms.get(doc_id)
        return room.title if room is not None else ""

    async def revisions_heard(
        self, doc_id: str, revisions: list[Revision], *, from_instance: bool = False
    ) -> None:
        room = self.rooms.get(doc_id)
        if room is None or not revisions or revisions[-1].rev <= room.sequencer.rev:
            return
        if from_instance:
            # Committed by one of our instances, as the bus attests: folded in as heard
            # (each checked against its checksum), with the store read only for what does
            # not follow on. On a document spread over instances this spared a database
            # read per publication on every instance that did not sequence it.
            await room.fold_published(revisions)
            return
        # From anyone else the bus only says that something was committed; the store says
        # what. Folding in the store's revisions, never the heard ones, keeps a room from
        # getting ahead of its database: a forged or garbled item folded in would make every
        # later commit find the store's head behind the room's and be refused as busy.
        await room.refresh()

    async def caught_up(self, doc_id: str) -> None:
        room = self.rooms.get(doc_id)
        if room is not None:
            await room.refresh()

    async def presence_heard(self, doc_id: str, event: PresenceEvent) -> None:
        room = self.rooms.get(doc_id)
        if room is not None:
            room.presence_heard(event)

    async def instance_back(self, origin: str) -> None:
        if self.routing is not None:
            self.routing.holder_back(origin)

    async def instance_gone(self, origin: str) -> None:
        if self.routing is not None:
            self.routing.holder_gone(origin)
        for room in list(self.rooms.values()):
            room.instance_gone(origin)

    def people_here(self, doc_id: str) -> list[dict[str, Any]]:
        room = self.rooms.get(doc_id)
        if room is None:
            return []
        return [member.person.public() for member in room.members.values()]

    async def renamed_heard(self, doc_id: str, title: str) -> None:
        room = self.rooms.get(doc_id)
        if room is not None:
            room.renamed(title)

    async def deleted_heard(self, doc_id: str) -> None:
        await self.forget(doc_id)

    async def edit_heard(self, doc_id: str, edit: Edit, author: str) -> None:
        async with self.holding(doc_id) as room:
            await room.submit(edit, author, origin="bus")

    def reachability_changed(self, reachable: bool, detail: str) -> None:
        self.reachable, self.unreachable_detail = reachable, detail
        if reachable:
            log.info("the bus reaches the other instances again")
        else:
            log.warning("the bus cannot reach the other instances: %s", detail)
        for room in list(self.rooms.values()):
            room.broadcast(self.reachability_message())

    def reachability_message(self) -> dict[str, Any]:
        """The ``status`` message the page shows as a banner while it says ``down``."""
        if self.reachable:
            return {"type": "status", "bus": "ok"}
        return {
            "type": "status",
            "bus": "down",
            "message": "This server cannot reach the other servers right now. Your edits are "
            "saved; people connected elsewhere, and bots, get them once it is back.",
        }

    async def forwarded_edit(self, doc_id: str, edit: Edit, author: str) -> Forwarded:
        async with self.holding(doc_id) as room:
            outcome = await room.submit(edit, author, origin="forwarded")
        return Forwarded(outcome.revision.rev, outcome.placement.value, outcome.revision)

    async def revisions_after(self, doc_id: str, after: int, limit: int) -> list[Revision]:
        room = self.rooms.get(doc_id)
        if room is not None:
            return await room.revisions_after(after, limit)
        return await self.store.revisions_after(doc_id, after, limit)

    async def snapshot(self, doc_id: str) -> Snapshot:
        async with self.holding(doc_id) as room:
            return await room.snapshot()
