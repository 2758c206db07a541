"""A ``RevisionBus`` inside one process.

Alone (``COLLAB_XMPP_MODE=off``) it has nobody to tell, and a single instance needs nobody.
Buses sharing one ``MemoryHub`` behave like instances sharing an XMPP server, which is what
tests of several instances in one process use, and what the bus contract suite checks
beside the XMPP bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence

from app.core.bus import (
    BusHost,
    BusState,
    Forwarded,
    ForwardFailed,
    MembersOf,
    PresenceEvent,
    RemoteRefusal,
)
from app.core.chat import ChatHost, ChatMessage
from app.core.errors import AppError
from sync.errors import SyncError
from sync.protocol import Edit, Revision, Snapshot

log = logging.getLogger(__name__)

Delivery = Callable[[BusHost], Awaitable[None]]
_names = itertools.count(1)


def _caught_up(doc_id: str) -> Delivery:
    async def deliver(host: BusHost) -> None:
        await host.caught_up(doc_id)

    return deliver


def _chat_heard(chat: ChatHost, doc_id: str, message: ChatMessage) -> Delivery:
    async def deliver(_host: BusHost) -> None:
        await chat.chat_heard(doc_id, [message], history=False)

    return deliver


class MemoryHub:
    """What the buses of one process share: who listens to which document."""

    def __init__(self) -> None:
        self.buses: list[MemoryBus] = []

    def deliver(self, sender: MemoryBus, doc_id: str, delivery: Delivery) -> None:
        for bus in self.buses:
            if bus is not sender and doc_id in bus.subscribed:
                bus.inbox.put_nowait(delivery)


class MemoryBus:
    def __init__(self, hub: MemoryHub | None = None, *, name: str = "") -> None:
        self.shared = hub is not None
        self.hub = hub or MemoryHub()
        self.name = name or f"memory-{next(_names)}"
        self.subscribed: set[str] = set()
        self.inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._host: BusHost | None = None
        self._chat: ChatHost | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self, host: BusHost) -> None:
        if self._pump is not None:
            raise RuntimeError(f"bus {self.name} is already running")
        self._host = host
        # As the XMPP server tells the other resources when one comes online.
        back = self.name

        async def deliver(other: BusHost) -> None:
            await other.instance_back(back)

        for bus in self.hub.buses:
            bus.inbox.put_nowait(deliver)
        self.hub.buses.append(self)
        self._pump = asyncio.get_running_loop().create_task(self._run(host))
        # Started again after a stop: like an XMPP reconnect, what was missed meanwhile
        # is read from the store.
        for doc_id in sorted(self.subscribed):
            self.inbox.put_nowait(_caught_up(doc_id))

    async def stop(self) -> None:
        if self in self.hub.buses:
            self.hub.buses.remove(self)
            # As the XMPP server tells the other resources when one goes offline.
            gone = self.name

            async def deliver(host: BusHost) -> None:
                await host.instance_gone(gone)

            for bus in self.hub.buses:
                bus.inbox.put_nowait(deliver)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    async def _run(self, host: BusHost) -> None:
        # One delivery at a time, in the order sent: a document's revisions stay in order.
        while True:
            delivery = await self.inbox.get()
            try:
                await delivery(host)
            except Exception:
                log.exception("bus %s: a delivery failed", self.name)

    def health(self) -> tuple[BusState, str]:
        if not self.shared:
            return "disabled", "COLLAB_XMPP_MODE=off: one instance, nothing to relay"
        return "ok", f"{self.name}: in-process hub of {len(self.hub.buses)} instance(s)"

    async def subscribe(self, doc_id: str) -> None:
        self.subscribed.add(doc_id)
        if self._host is not None:
            await self._host.caught_up(doc_id)
        # Presence is transient: the others say again who they have here (as the XMPP
        # bridge's roll call has them do).
        for bus in self.hub.buses:
            if bus is not self and doc_id in bus.subscribed and bus._host is not None:
                for person in bus._host.people_here(doc_id):
                    bus.relay_presence(doc_id, PresenceEvent("update", person))

    async def unsubscribe(self, doc_id: str) -> None:
        self.subscribed.discard(doc_id)

    def publish(self, doc_id: str, revisions: Sequence[Revision]) -> None:
        batch = list(revisions)

        async def deliver(host: BusHost) -> None:
            # Only instances publish on the in-process hub.
            await host.revisions_heard(doc_id, batch, from_instance=True)

        self.hub.deliver(self, doc_id, deliver)

    def relay_presence(self, doc_id: str, event: PresenceEvent) -> None:
        relayed = PresenceEvent(event.event, dict(event.person), self.name)

        async def deliver(host: BusHost) -> None:
            await host.presence_heard(doc_id, relayed)

        self.hub.deliver(self, doc_id, deliver)

    async def document_created(self, doc_id: str, title: str, snapshot: Snapshot) -> None:
        pass  # nothing to set up: a document is heard once an instance subscribes

    async def document_renamed(self, doc_id: str, title: str) -> None:
        async def deliver(host: BusHost) -> None:
            await host.renamed_heard(doc_id, title)

        self.hub.deliver(self, doc_id, deliver)

    async def document_deleted(self, doc_id: str) -> None:
        async def deliver(host: BusHost) -> None:
            await host.deleted_heard(doc_id)

        self.hub.deliver(self, doc_id, deliver)

    def attach_chat(self, host: ChatHost) -> None:
        self._chat = host

    def send_chat(self, doc_id: str, message: ChatMessage) -> None:
        # Alone, nobody else to tell: the chat service has told this instance's pages.
        for bus in self.hub.buses:
            chat = bus._chat
            if bus is not self and doc_id in bus.subscribed and chat is not None:
                bus.inbox.put_nowait(_chat_heard(chat, doc_id, message))

    def follow_access(self, members_of: MembersOf) -> None:
        pass  # nobody outside this process can listen: nothing to restrict

    def access_changed(self, doc_id: str) -> None:
        pass

    @property
    def identity(self) -> str:
        return self.name

    async def forward(self, holder: str, doc_id: str, edit: Edit, author: str) -> Forwarded:
        # Straight to the other instance's host: the hub is one process.
        for bus in self.hub.buses:
            if bus.name == holder and bus._host is not None and bus is not self:
                try:
                    return await bus._host.forwarded_edit(doc_id, edit, author)
                except (SyncError, AppError) as exc:
                    raise RemoteRefusal(exc.code, str(exc)) from exc
        raise ForwardFailed(f"no instance {holder} on this hub")
