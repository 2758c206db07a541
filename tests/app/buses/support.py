"""Helpers for the bus tests: a fake ``BusHost`` that records what it hears, and the two
backends the contract suite runs on.

The buses are real; only the instance around them is a fake. A ``FakeHost`` keeps the
revisions its instance committed (what ``revisions_after`` and ``snapshot`` answer from) and
a log of everything the bus delivered to it, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.buses.memory import MemoryBus, MemoryHub
from app.buses.xmpp.bridge import XmppBridge
from app.config import Settings
from app.core.bus import Forwarded, PresenceEvent, RevisionBus
from app.metrics import Metrics
from sync.protocol import Edit, Revision, Snapshot
from sync.server import Sequencer
from tests.sync.helpers import edit_on
from tests.xmpp_support import XmppServerForTests

WAIT_SECONDS = 10.0
FENCE = "fence-"  # sessions of the presence a test sends only to know the bus is drained

_fences = itertools.count(1)


def new_doc() -> str:
    return f"bus-{secrets.token_hex(5)}"


async def eventually(
    condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.01)


@dataclass(frozen=True)
class Heard:
    kind: str  # revisions, caught_up, presence, renamed, deleted, edit
    doc_id: str
    value: Any = None


@dataclass
class FakeHost:
    """A ``BusHost`` with documents in memory; ``heard`` is everything delivered to it."""

    opened: set[str] = field(default_factory=set)
    documents: dict[str, Sequencer] = field(default_factory=dict)
    committed: dict[str, list[Revision]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    heard: list[Heard] = field(default_factory=list)
    here: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # people, per document
    reachability: list[bool] = field(default_factory=list)  # what the bus said, in order
    back: list[str] = field(default_factory=list)  # instances heard coming online
    # Per revision heard, in order: whether the bus vouched that an instance published it.
    vouched: list[bool] = field(default_factory=list)

    def commit(self, doc_id: str, count: int, *, insert: str = "") -> list[Revision]:
        """``count`` new revisions of ``doc_id``, made by the engine as a room makes them,
        each inserting ``insert`` (by default a short line, numbered)."""
        sequencer = self.documents.setdefault(doc_id, Sequencer(""))
        log = self.committed.setdefault(doc_id, [])
        out = []
        for _ in range(count):
            seq = len(log) + 1
            words = insert or f"{seq} <&>\r\n"
            edit = edit_on(sequencer.text, sequencer.rev, "writer", seq, 0, 0, words)
            out.append(sequencer.submit(edit, "Ann").revision)
            log.append(out[-1])
        return out

    # -- what the tests read ------------------------------------------------------------

    def of(self, kind: str, doc_id: str) -> list[Any]:
        return [h.value for h in self.heard if h.kind == kind and h.doc_id == doc_id]

    def revisions(self, doc_id: str) -> list[Revision]:
        return [r for batch in self.of("revisions", doc_id) for r in batch]

    def revs(self, doc_id: str) -> list[int]:
        return [r.rev for r in self.revisions(doc_id)]

    def presence(self, doc_id: str) -> list[PresenceEvent]:
        events: list[PresenceEvent] = self.of("presence", doc_id)
        return [e for e in events if not str(e.person.get("session")).startswith(FENCE)]

    def fences(self, doc_id: str) -> set[str]:
        events: list[PresenceEvent] = self.of("presence", doc_id)
        return {str(e.person["session"]) for e in events}

    # -- BusHost ------------------------------------------------------------------------

    def open_documents(self) -> list[str]:
        return sorted(self.opened)

    def head_of(self, doc_id: str) -> int:
        log = self.committed.get(doc_id)
        return log[-1].rev if log and doc_id in self.opened else 0

    def title_of(self, doc_id: str) -> str:
        return self.titles.get(doc_id, "")

    async def revisions_heard(
        self, doc_id: str, revisions: list[Revision], *, from_instance: bool = False
    ) -> None:
        self.heard.append(Heard("revisions", doc_id, list(revisions)))
        self.vouched.extend([from_instance] * len(revisions))

    async def caught_up(self, doc_id: str) -> None:
        self.heard.append(Heard("caught_up", doc_id))

    async def instance_gone(self, origin: str) -> None:
        self.heard.append(Heard("gone", "", origin))

    async def instance_back(self, origin: str) -> None:
        self.back.append(origin)

    def people_here(self, doc_id: str) -> list[dict[str, Any]]:
        return [dict(person) for person in self.here.get(doc_id, [])]

    async def presence_heard(self, doc_id: str, event: PresenceEvent) -> None:
        self.heard.append(Heard("presence", doc_id, event))

    async def renamed_heard(self, doc_id: str, title: str) -> None:
        self.heard.append(Heard("renamed", doc_id, title))

    async def deleted_heard(self, doc_id: str) -> None:
        self.heard.append(Heard("deleted", doc_id))

    async def edit_heard(self, doc_id: str, edit: Edit, author: str) -> None:
        self.heard.append(Heard("edit", doc_id, (edit, author)))

    def reachability_changed(self, reachable: bool, detail: str) -> None:
        self.reachability.append(reachable)

    async def forwarded_edit(self, doc_id: str, edit: Edit, author: str) -> Forwarded:
        self.heard.append(Heard("forwarded", doc_id, (edit, author)))
        return Forwarded(len(self.committed.get(doc_id, [])) + 1, "exact")

    async def revisions_after(self, doc_id: str, after: int, limit: int) -> list[Revision]:
        return [r for r in self.committed.get(doc_id, []) if r.rev > after][:limit]

    async def snapshot(self, doc_id: str) -> Snapshot:
        return self.documents.setdefault(doc_id, Sequencer("")).snapshot()


@dataclass
class Instance:
    """One app instance as the bus sees it: its bus, and the fake host behind it."""

    bus: RevisionBus
    host: FakeHost
    identity: Callable[[], str]  # what the others should hear as its ``origin``

    async def open(self, doc_id: str) -> None:
        self.host.opened.add(doc_id)
        await self.bus.subscribe(doc_id)

    async def close(self, doc_id: str) -> None:
        self.host.opened.discard(doc_id)
        await self.bus.unsubscribe(doc_id)

    def commit(self, doc_id: str, count: int, *, insert: str = "") -> list[Revision]:
        revisions = self.host.commit(doc_id, count, insert=insert)
        self.bus.publish(doc_id, revisions)
        return revisions


async def fence(sender: Instance, receiver: Instance, doc_id: str) -> None:
    """Until ``receiver`` hears a presence ``sender`` relays now on ``doc_id``: whatever the
    server sent ``receiver`` before it has been delivered."""
    session = f"{FENCE}{next(_fences)}"
    person = {"session": session, "name": "f", "color": "#000000", "cursor": None}
    sender.bus.relay_presence(doc_id, PresenceEvent("update", {**person, "anchor": None, "rev": 0}))
    await eventually(lambda: session in receiver.host.fences(doc_id), f"fence {session}")


class Backend:
    """Makes started instances sharing one world, and takes them down and up."""

    name = ""

    async def instance(self, name: str) -> Instance:
        raise NotImplementedError

    async def outage(self, instance: Instance) -> None:
        raise NotImplementedError

    async def recover(self, instance: Instance) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class MemoryBackend(Backend):
    """Buses sharing one ``MemoryHub``; an outage is a stopped bus."""

    name = "memory"

    def __init__(self) -> None:
        self.hub = MemoryHub()
        self.buses: list[MemoryBus] = []

    async def instance(self, name: str) -> Instance:
        bus = MemoryBus(self.hub, name=name)
        host = FakeHost()
        await bus.start(host)
        self.buses.append(bus)
        return Instance(bus, host, lambda: bus.name)

    async def outage(self, instance: Instance) -> None:
        assert isinstance(instance.bus, MemoryBus)
        await instance.bus.stop()

    async def recover(self, instance: Instance) -> None:
        await instance.bus.start(instance.host)

    async def close(self) -> None:
        for bus in self.buses:
            await bus.stop()


class XmppBackend(Backend):
    """Bridges on the app's service account of the test Prosody, each with its own resource;
    an outage is a stopped connection."""

    name = "xmpp"

    def __init__(self, prosody: XmppServerForTests) -> None:
        self.prosody = prosody
        self.bridges: list[XmppBridge] = []
        self.run = secrets.token_hex(3)

    async def instance(self, name: str) -> Instance:
        settings = Settings(_env_file=None, xmpp_connect_timeout=WAIT_SECONDS)
        # On a cluster, instances take turns among its nodes: the first on one, the second on
        # the other, so that what they exchange crosses the cluster.
        services = getattr(self.prosody, "services", [self.prosody.service])
        bridge = XmppBridge(
            services[len(self.bridges) % len(services)],
            resource=f"contract-{name}-{self.run}",
            settings=settings,
            metrics=Metrics(),
        )
        self.bridges.append(bridge)
        host = FakeHost()
        await bridge.start(host)
        assert bridge.connection.connected, bridge.health()
        return Instance(bridge, host, lambda: str(bridge.connection.xmpp.boundjid.full))

    async def outage(self, instance: Instance) -> None:
        assert isinstance(instance.bus, XmppBridge)
        await instance.bus.connection.stop()

    async def recover(self, instance: Instance) -> None:
        assert isinstance(instance.bus, XmppBridge)
        await instance.bus.connection.start(wait=WAIT_SECONDS)

    async def close(self) -> None:
        for bridge in self.bridges:
            await bridge.stop()
