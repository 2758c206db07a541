"""The revision bus, attached to rooms as one extension among the others.

Rooms know nothing of the bus: this extension hears their hooks and tells the bus, and the
bus delivers what it hears to the registry (``BusHost``).
"""

from __future__ import annotations

import logging

from app.core.background import Background
from app.core.bus import PresenceEvent, RevisionBus
from app.core.extensions import Committed, Extension
from app.core.store import DocumentInfo
from sync.protocol import Snapshot

log = logging.getLogger(__name__)


class BusExtension(Extension):
    # Late: policies (authentication, limits) run first, and publishing only reports.
    priority = 1000

    def __init__(self, bus: RevisionBus) -> None:
        self.bus = bus
        self.background = Background()

    async def on_load(self, doc_id: str) -> None:
        # Subscribing takes a round trip to the far side: the first person in a document
        # does not wait for it (the bus catches the room up once it listens).
        self.background.spawn(self.bus.subscribe(doc_id))

    async def on_unload(self, doc_id: str) -> None:
        self.background.spawn(self.bus.unsubscribe(doc_id))

    async def after_commit(self, committed: Committed) -> None:
        self.bus.publish(committed.doc_id, committed.revisions)

    async def on_presence(self, doc_id: str, event: PresenceEvent) -> None:
        self.bus.relay_presence(doc_id, event)

    async def document_created(self, info: DocumentInfo, text: str) -> None:
        await self.bus.document_created(info.id, info.title, Snapshot(0, text, info.checksum))

    async def document_renamed(self, info: DocumentInfo) -> None:
        await self.bus.document_renamed(info.id, info.title)

    async def document_deleted(self, doc_id: str) -> None:
        await self.bus.document_deleted(doc_id)
